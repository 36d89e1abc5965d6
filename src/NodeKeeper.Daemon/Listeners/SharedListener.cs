using System.Net;
using System.Net.Sockets;

namespace NodeKeeper.Daemon.Listeners;

/// <summary>
/// The listening socket of a port_mode = "shared" app, bound by the daemon and held for as long as the app is meant
/// to run: every instance accepts on it, and connections wait in its backlog while an instance restarts.
/// </summary>
public sealed class SharedListener : IDisposable
{
    private readonly Socket _socket;

    private SharedListener(Socket socket, int port, string? host)
    {
        _socket = socket;
        Port = port;
        Host = host;
    }

    public int Port { get; }
    public string? Host { get; }

    /// <summary>A listening socket a previous daemon image bound and handed on (`nk update`): made close-on-exec again.</summary>
    public static SharedListener Adopt(int fd, int port, string? host)
    {
        return new SharedListener(InheritedSocket.Adopt(fd), port, host);
    }

    /// <summary>The raw fd instances inherit (NK_LISTEN_FD).</summary>
    public int Fd => (int)_socket.SafeHandle.DangerousGetHandle();

    /// <summary>
    /// Binds the port on the host given (`host`), else on every interface as node's own listen(PORT) does (IPv6
    /// any, dual-stack; IPv4 any where IPv6 is off). Returns the error when the port is taken.
    /// </summary>
    public static (SharedListener? Listener, SocketError Error) Bind(int port, string? host = null)
    {
        var candidates = host is null
            ? new[] { IPAddress.IPv6Any, IPAddress.Any }
            : [host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(host)];
        foreach (var address in candidates)
        {
            var family = address.AddressFamily;
            Socket? s = null;
            try
            {
                s = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
                if (address.Equals(IPAddress.IPv6Any)) s.DualMode = true;
                s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                s.Bind(new IPEndPoint(address, port));
                s.Listen(511);
                return (new SharedListener(s, port, host), SocketError.Success);
            }
            catch (SocketException ex)
            {
                s?.Dispose();
                if (ex.SocketErrorCode == SocketError.AddressAlreadyInUse) return (null, ex.SocketErrorCode);
                if (address == candidates[^1]) return (null, ex.SocketErrorCode);
            }
        }
        return (null, SocketError.SocketError);
    }

    public void Dispose() => _socket.Dispose();
}
