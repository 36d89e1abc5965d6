using System.Net;
using System.Net.Sockets;

namespace NodeKeeper.TestSupport;

/// <summary>
/// Loopback ports no other test uses, picked below the kernel's ephemeral range: a port from that range can be
/// taken meanwhile by the local end of some test's outgoing connection, and the app's bind would then fail.
/// </summary>
public static class FreePort
{
    private static readonly HashSet<int> Handed = [];
    private static readonly Random Pick = new();

    public static int Next() => Next(1);

    /// <summary>The first of <paramref name="count"/> consecutive such ports (an app in increment mode gets port + i).</summary>
    public static int Next(int count)
    {
        var (low, _) = EphemeralRange();
        lock (Handed)
        {
            while (true)
            {
                var port = Pick.Next(10000, Math.Max(10001, low - count));
                var run = Enumerable.Range(port, count);
                if (run.Any(p => Handed.Contains(p) || !Bindable(p))) continue;
                Handed.UnionWith(run);
                return port;
            }
        }
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.IPv6Any, port);
            l.Server.DualMode = true;
            l.Start();
            return true;
        }
        catch (SocketException) { return false; }
    }

    private static (int Low, int High) EphemeralRange()
    {
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return (int.Parse(parts[0]), int.Parse(parts[1]));
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException) { return (32768, 60999); }
    }
}
