namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// A GET of an app's health.url: passed when it answers 2xx or 3xx within the timeout. The health checks of online
/// instances and the readiness of `ready = "health"` ask it, so both judge an answer alike.
/// </summary>
public static class HttpProbe
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        // A fresh connection per probe: in shared mode any instance may answer, and a dead one must not be cached.
        PooledConnectionLifetime = TimeSpan.Zero,
        AllowAutoRedirect = false,
        UseProxy = false,
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    });

    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);

    /// <summary>Null when the URL answers 2xx or 3xx in time; otherwise what went wrong.</summary>
    public static async Task<string?> GetAsync(string url, TimeSpan timeout, CancellationToken ct)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attempt.CancelAfter(timeout);
        try
        {
            using var response = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, attempt.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            return code is >= 200 and < 400 ? null : $"GET {url}: HTTP {code} {response.ReasonPhrase}";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"GET {url}: no answer within health.timeout ({timeout.TotalSeconds:0.##} s)";
        }
        catch (HttpRequestException ex)
        {
            return $"GET {url}: {(ex.InnerException as System.Net.Sockets.SocketException)?.Message ?? ex.Message}";
        }
    }

    /// <summary>
    /// Probes every 100 ms (each GET bounded by <paramref name="timeout"/>) until one passes (true) or it is cancelled
    /// (false); <paramref name="failed"/> hears each failure, so the last one can be told when readiness runs out.
    /// </summary>
    public static async Task<bool> WaitPassingAsync(string url, TimeSpan timeout, Action<string> failed, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (await GetAsync(url, timeout, ct).ConfigureAwait(false) is not { } failure) return true;
                failed(failure);
                await Task.Delay(Pause, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) { }
        return false;
    }
}
