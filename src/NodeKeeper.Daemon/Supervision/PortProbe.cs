using System.Net;
using System.Net.Sockets;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>The readiness of an app that listens on a port of its own: a TCP connect to it succeeds.</summary>
public static class PortProbe
{
    private static readonly TimeSpan Attempt = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(50);

    /// <summary>Tries to connect every 50 ms (each attempt bounded by 1 s) until one succeeds (true) or it is cancelled (false).</summary>
    public static async Task<bool> WaitListeningAsync(int port, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
                {
                    try
                    {
                        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
                        attempt.CancelAfter(Attempt);
                        await s.ConnectAsync(IPAddress.Loopback, port, attempt.Token);
                        return true;
                    }
                    catch (SocketException) { }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                }
                await Task.Delay(Pause, ct);
            }
        }
        catch (OperationCanceledException) { }
        return false;
    }
}
