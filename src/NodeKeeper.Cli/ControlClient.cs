using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>A connection to the daemon's control socket: one JSON request line, one JSON response line.</summary>
public sealed class ControlClient : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;
    private int _nextId;

    private ControlClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <summary>Why a connection failed: nobody listens (a daemon may be started) or something else (it may not).</summary>
    public enum Failure { None, NoDaemon, Denied }

    /// <summary>
    /// Connects to a home's daemon, and hands the connection over only when both may be trusted: the home is this user's
    /// own (HomeGuard, checked before connecting, and before a daemon may be started there) and the process listening on
    /// the socket is this user or root (checked once connected, before a byte is sent).
    /// </summary>
    public static (ControlClient? Client, Failure Failure, string? Error) TryConnect(string socketPath)
    {
        if (Path.GetDirectoryName(socketPath) is { Length: > 0 } home && HomeGuard.Refusal(home) is { } refusal)
            return (null, Failure.Denied, refusal);
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(socketPath));
        }
        catch (SocketException ex)
        {
            s.Dispose();
            if (ex.SocketErrorCode == SocketError.AccessDenied)
                return (null, Failure.Denied, $"cannot connect to {socketPath}: permission denied (the daemon belongs to another user)");
            return (null, Failure.NoDaemon, $"no daemon answers on {socketPath} ({ex.Message})");
        }
        if (Uids.UntrustedServer(s, socketPath) is { } untrusted)
        {
            s.Dispose();
            return (null, Failure.Denied, untrusted);
        }
        return (new ControlClient(s), Failure.None, null);
    }

    public async Task<Response> SendAsync(Request request, CancellationToken ct = default)
    {
        request = request with { Id = ++_nextId };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(request, ProtocolJson.Default.Request);
        try
        {
            await _stream.WriteAsync(bytes, ct);
            await _stream.WriteAsync("\n"u8.ToArray(), ct);
        }
        catch (IOException)
        {
            // The daemon may have answered and closed before reading (it refuses a peer at once): read that answer.
        }
        var line = await _reader.ReadLineAsync(ct)
            ?? throw new IOException("the daemon closed the connection without answering");
        return JsonSerializer.Deserialize(line, ProtocolJson.Default.Response)
            ?? throw new IOException("the daemon sent an empty answer");
    }

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
        _socket.Dispose();
    }
}
