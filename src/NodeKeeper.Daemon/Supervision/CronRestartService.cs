using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// cron_restart: at each time of the app's expression (the daemon's local time zone) its instances restart one at a
/// time, reason `cron`, as PM2's cron_restart does; an instance that ended by itself (a job with restart = "never"
/// that finished) starts again, so a periodic job runs at its times. An app stopped with nk stop is left alone. Each
/// app sleeps until its next time: an idle daemon is not woken for it.
/// </summary>
public sealed class CronRestartService(Supervisor supervisor, DaemonContext ctx) : FollowingApps(ctx)
{
    /// <summary>Task.Delay's limit is about 49 days; a long wait is taken in steps and the next time computed again.</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);
    private readonly Dictionary<AppRuntime, (string Expression, CancellationTokenSource Stop)> _schedules = [];

    protected override void Release()
    {
        foreach (var (_, stop) in _schedules.Values) { stop.Cancel(); stop.Dispose(); }
    }

    /// <summary>One schedule per app that is meant to run and has cron_restart; a changed expression starts anew.</summary>
    protected override void Reconcile(CancellationToken ct)
    {
        var wanted = supervisor.Apps.Where(a => a.Wanted && a.Spec.CronRestart is not null).ToDictionary(a => a, a => a.Spec.CronRestart!);
        foreach (var (app, (expression, stop)) in _schedules.ToList())
        {
            if (wanted.TryGetValue(app, out var now) && now == expression) continue;
            stop.Cancel();
            stop.Dispose();
            _schedules.Remove(app);
        }
        foreach (var (app, expression) in wanted.Where(w => !_schedules.ContainsKey(w.Key)))
        {
            var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            _schedules[app] = (expression, stop);
            _ = RunAsync(app, expression, stop.Token);
        }
    }

    private async Task RunAsync(AppRuntime app, string expression, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var now = Ctx.Clock.GetUtcNow();
                if (CronSchedule.Next(expression, now, TimeZoneInfo.Local) is not { } due) return;
                var wait = due - now;
                await Task.Delay(wait > LongestWait ? LongestWait : wait, Ctx.Clock, ct);
                if (Ctx.Clock.GetUtcNow() < due || !app.Wanted) continue;
                Ctx.Logger.LogInformation("{App}: cron_restart \"{Expression}\": restarting at {Due:yyyy-MM-dd HH:mm:ss}", app.Name, expression, due.ToLocalTime());
                await Supervisor.RollingRestartAsync(app, i => Restart(i, expression), ct);
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Restarts a running instance, or starts one that ended by itself; false for one that is stopping, or in
    /// backoff (its own coming start is the restart).</summary>
    private static bool Restart(InstanceRunner i, string expression)
    {
        switch (i.State.Status)
        {
            case InstanceStatus.Online or InstanceStatus.Starting:
                i.Post(new RestartRequested(ExitReasons.Cron, [$"cron_restart \"{expression}\""]));
                return true;
            case InstanceStatus.Stopped or InstanceStatus.Errored:
                i.Post(new StartRequested());
                return true;
            default:
                return false;
        }
    }
}
