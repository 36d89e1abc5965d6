namespace NodeKeeper.TestSupport;

/// <summary>
/// Continuous load on fresh connections until disposed: counts requests served, refused (nothing accepted the
/// connection) and failed otherwise (reset, timeout).
/// </summary>
public sealed class LoadClient : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _task;
    private int _served, _refused, _failed;

    public LoadClient(int port) => _task = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            var (body, refused) = await FreshHttp.Request(port);
            if (body is not null) Interlocked.Increment(ref _served);
            else if (refused) Interlocked.Increment(ref _refused);
            else Interlocked.Increment(ref _failed);
        }
    });

    public int Served => Volatile.Read(ref _served);
    public int Refused => Volatile.Read(ref _refused);
    public int Failed => Volatile.Read(ref _failed);
    /// <summary>Requests that got no answer, refused or otherwise.</summary>
    public int Unserved => Refused + Failed;

    /// <summary>Waits until `more` further requests have been served.</summary>
    public async Task ServesAsync(int more, string what)
    {
        var from = Served;
        await Eventually.Until(() => Served >= from + more, TimeSpan.FromSeconds(10), what);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _task;
    }
}
