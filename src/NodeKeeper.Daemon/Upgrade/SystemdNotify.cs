using System.Net.Sockets;
using System.Text;

namespace NodeKeeper.Daemon.Upgrade;

/// <summary>
/// sd_notify(3) for `nk update` under the unit `nk startup` writes (Type=notify): RELOADING=1 before the exec, READY=1
/// once the new image serves. The main pid does not change, so systemd sees one service reloading.
/// </summary>
public static class SystemdNotify
{
    /// <summary>Sends the state to $NOTIFY_SOCKET; false when there is none or it cannot be reached.</summary>
    public static bool Send(string state)
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path)) return false;
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            // A leading '@' names a socket in the abstract namespace.
            var endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
            s.SendTo(Encoding.UTF8.GetBytes(state), endpoint);
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>RELOADING=1 with the monotonic time systemd ≥ 253 asks for.</summary>
    public static void Reloading() =>
        Send($"RELOADING=1\nMONOTONIC_USEC={System.Diagnostics.Stopwatch.GetTimestamp() / (System.Diagnostics.Stopwatch.Frequency / 1_000_000)}\nSTATUS=nk update: handing over to the new daemon image");
}
