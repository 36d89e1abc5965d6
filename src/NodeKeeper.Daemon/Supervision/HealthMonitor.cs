using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// Health checks of the apps that declare `health`: the HTTP probe every interval (each instance's own port in
/// increment mode; the app as a whole in shared mode, restarted one instance at a time), and the watch on every
/// instance's event loop through the preload's reports (none for timeout × failures: stalled; p99 above max_lag in
/// `failures` reports in a row). `failures` failures in a row → a graceful restart with reason `health`.
/// </summary>
public sealed class HealthMonitor(Supervisor supervisor, DaemonContext ctx) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private readonly Dictionary<AppRuntime, AppHealth> _apps = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class AppHealth
    {
        public DateTimeOffset NextProbe;
        public int Failures;
        public Task Rolling = Task.CompletedTask;
        public readonly Dictionary<InstanceRunner, int> InstanceFailures = [];
        public readonly Dictionary<InstanceRunner, LagWatch> Lag = [];
    }

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        ctx.Changed += OnChanged;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var watched = supervisor.Apps.Where(a => a.Spec.Health is not null).ToList();
                foreach (var gone in _apps.Keys.Except(watched).ToList()) _apps.Remove(gone);
                if (watched.Count == 0)
                {
                    // Nothing to watch: sleep until something changes (an idle daemon stays asleep).
                    var signal = Volatile.Read(ref _changed);
                    if (!supervisor.Apps.Any(a => a.Spec.Health is not null)) await signal.Task.WaitAsync(ct);
                    continue;
                }
                var now = ctx.Clock.GetUtcNow();
                foreach (var app in watched) await CheckAsync(app, app.Spec.Health!, now, ct);
                await Task.Delay(Tick, ctx.Clock, ct);
            }
        }
        catch (OperationCanceledException) { }
        finally { ctx.Changed -= OnChanged; }
    }

    private void OnChanged() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private async Task CheckAsync(AppRuntime app, HealthSpec health, DateTimeOffset now, CancellationToken ct)
    {
        if (!_apps.TryGetValue(app, out var h)) _apps[app] = h = new AppHealth { NextProbe = now + health.Interval };
        var online = app.Watched.Where(i => i.State.Status == InstanceStatus.Online).ToList();
        foreach (var stale in h.InstanceFailures.Keys.Concat(h.Lag.Keys).Except(online).ToList())
        {
            h.InstanceFailures.Remove(stale);
            h.Lag.Remove(stale);
        }

        foreach (var i in online) CheckEventLoop(app, health, h, i, now);

        if (now < h.NextProbe || online.Count == 0) return;
        h.NextProbe = now + health.Interval;
        if (HealthRule.OnEachInstance(app.Spec.PortMode, app.Spec.Port, health.Url))
        {
            foreach (var i in online)
            {
                var failure = await HttpProbe.GetAsync(HealthRule.InstanceUrl(app.Spec, i.Index)!, health.Timeout, ct);
                var count = HealthRule.Probe(health, h.InstanceFailures.GetValueOrDefault(i), failure is not null);
                h.InstanceFailures[i] = count.Kept;
                if (count.Restart) Restart(app, i, $"{count.InARow} health checks in a row failed: {failure}");
            }
            return;
        }
        if (!h.Rolling.IsCompleted) return;
        var appFailure = await HttpProbe.GetAsync(health.Url, health.Timeout, ct);
        var appCount = HealthRule.Probe(health, h.Failures, appFailure is not null);
        h.Failures = appCount.Kept;
        if (appCount.Restart)
        {
            var evidence = $"{appCount.InARow} health checks in a row failed: {appFailure}";
            // The url answers from the old instances and the canary alike: while a canary runs, it is the one judged.
            if (app.Reloads.FailCanary(evidence)) return;
            h.Rolling = Supervisor.RollingRestartAsync(app, i => Restart(app, i, evidence), ct);
        }
    }

    /// <summary>The event loop of an online instance: stalled (no report), or lagging above max_lag report after report.</summary>
    private void CheckEventLoop(AppRuntime app, HealthSpec health, AppHealth h, InstanceRunner i, DateTimeOffset now)
    {
        if (!i.HasIpc) return;
        var since = i.ReportAt ?? i.State.StartedAt ?? now;
        if (HealthRule.Stalled(health, since, now))
        {
            Restart(app, i, $"event loop stalled: no report from the process for {(now - since).TotalSeconds:0.#} s (health.timeout × health.failures = {HealthRule.StallAfter(health).TotalSeconds:0.#} s)");
            h.Lag.Remove(i);
            return;
        }
        if (i.Report is not { } r || i.ReportAt is not { } at
            || HealthRule.Lag(health, h.Lag.GetValueOrDefault(i), at, r.LagP99) is not { } judged) return;
        h.Lag[i] = judged.Watch;
        if (!judged.Restart) return;
        h.Lag.Remove(i);
        Restart(app, i, $"event loop delay p99 {r.LagP99:0} ms above health.max_lag ({health.MaxLag!.Value.TotalMilliseconds:0} ms) in {judged.Watch.InARow} reports in a row");
    }

    /// <summary>Restarts an online instance with reason health; false when it is not online.</summary>
    private bool Restart(AppRuntime app, InstanceRunner i, string evidence)
    {
        if (i.State.Status != InstanceStatus.Online) return false;
        ctx.Logger.LogWarning("{App}:{Index}: {Evidence}: restarting it", app.Name, i.Index, evidence);
        i.Post(new RestartRequested(ExitReasons.Health, [evidence]));
        return true;
    }
}
