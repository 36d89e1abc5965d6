using System.Text;

namespace NodeKeeper.TestSupport;

/// <summary>
/// A steady, light load that counts what it saw by status class: some workers on keep-alive connections, some on a
/// fresh connection per request, alternating GET and POST, each pausing between requests (so that it leaves the
/// machine to the daemon and the apps). A request that got no answer (refused, reset, timeout) is a failure. Stopping
/// lets each worker finish the request it has sent, so the counts are of whole requests.
/// </summary>
public sealed class HttpLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _workers = [];
    private readonly long[] _classes = new long[6]; // 1xx..5xx by first digit - 1, then failures
    private readonly string _url;
    private readonly TimeSpan _pause;

    /// <param name="url">What is asked, e.g. http://127.0.0.1:PORT/.</param>
    /// <param name="keepAlive">Workers on keep-alive connections.</param>
    /// <param name="fresh">Workers opening a connection per request.</param>
    /// <param name="pause">The pause after each request of a worker.</param>
    public HttpLoad(string url, int keepAlive = 2, int fresh = 2, TimeSpan? pause = null)
    {
        _url = url;
        _pause = pause ?? TimeSpan.FromMilliseconds(5);
        for (var i = 0; i < keepAlive; i++) _workers.Add(Task.Run(() => WorkAsync(fresh: false)));
        for (var i = 0; i < fresh; i++) _workers.Add(Task.Run(() => WorkAsync(fresh: true)));
    }

    public long Count(int statusClass) => Interlocked.Read(ref _classes[statusClass - 1]);
    /// <summary>Requests that got no answer.</summary>
    public long Failures => Interlocked.Read(ref _classes[5]);
    public long Answered => Count(1) + Count(2) + Count(3) + Count(4) + Count(5);

    public override string ToString() =>
        $"{_url}: 2xx {Count(2)}, 3xx {Count(3)}, 4xx {Count(4)}, 5xx {Count(5)}, no answer {Failures}";

    /// <summary>Waits until <paramref name="more"/> further requests were answered.</summary>
    public async Task AnsweredAsync(int more, string what, int seconds = 20)
    {
        var from = Answered;
        await Eventually.Until(() => Answered >= from + more, TimeSpan.FromSeconds(seconds), what);
    }

    private async Task WorkAsync(bool fresh)
    {
        using var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = fresh ? TimeSpan.Zero : Timeout.InfiniteTimeSpan,
            AllowAutoRedirect = false,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        if (fresh) http.DefaultRequestHeaders.ConnectionClose = true;
        var post = false;
        while (!_stop.IsCancellationRequested)
        {
            post = !post;
            try
            {
                using var request = new HttpRequestMessage(post ? HttpMethod.Post : HttpMethod.Get, _url);
                if (post) request.Content = new StringContent("{\"n\":1}", Encoding.UTF8, "application/json");
                // A request once sent is seen to its end, stop or not: the counts are of whole requests.
                using var response = await http.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
                var code = (int)response.StatusCode;
                Interlocked.Increment(ref _classes[Math.Clamp(code / 100, 1, 5) - 1]);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                Interlocked.Increment(ref _classes[5]);
            }
            try { await Task.Delay(_pause, _stop.Token); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Stops every worker and waits for them: the counts are final after this.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
