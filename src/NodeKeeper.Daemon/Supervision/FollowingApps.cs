using Microsoft.Extensions.Hosting;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// A service that keeps something per app (file watchers, cron schedules) in step with the apps: <see cref="Reconcile"/>
/// runs at start and after every change the daemon hears of (changes that come while it runs are taken together), and
/// <see cref="Release"/> once the host stops.
/// </summary>
public abstract class FollowingApps(DaemonContext ctx) : BackgroundService
{
    private readonly SemaphoreSlim _changed = new(0, 1);

    protected DaemonContext Ctx { get; } = ctx;

    protected abstract void Reconcile(CancellationToken ct);

    /// <summary>Lets go of everything kept per app.</summary>
    protected abstract void Release();

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        Ctx.Changed += OnChanged;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Reconcile(ct);
                await _changed.WaitAsync(ct);
            }
        }
        catch (OperationCanceledException) { }
        finally
        {
            Ctx.Changed -= OnChanged;
            Release();
        }
    }

    private void OnChanged()
    {
        if (_changed.CurrentCount == 0)
            try { _changed.Release(); } catch (SemaphoreFullException) { }
    }
}
