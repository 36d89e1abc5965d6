using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// Reloads: one instance at a time, guarded against a bad version by a canary before the cut-over and a watch after it
/// (ReloadVerdict decides; AppRuntime.Reloads keeps the phase, the previous definition and the story).
/// </summary>
public sealed partial class Supervisor
{
    /// <summary>How often a guard looks at the figures: the preload reports once a second.</summary>
    private static readonly TimeSpan GuardTick = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Zero-downtime reload, one instance at a time: start the replacement, wait until it is ready, then retire the old
    /// one (it drains first in shared mode). A replacement that does not become ready is stopped, the old instances
    /// keep serving, and the error says why. New definitions (env included) are taken when given.
    /// <paramref name="canary"/>: the first replacement runs beside the old instances this long first (null: the app's
    /// reload.canary).
    /// </summary>
    public async Task<Response> ReloadAsync(int id, List<AppRuntime> apps, IReadOnlyList<AppSpec>? specs, CancellationToken ct, TimeSpan? canary = null)
    {
        foreach (var a in apps) a.Reloads.Interrupt();
        await EnterAsync(ct);
        try
        {
            var touched = new List<Touched>();
            foreach (var app in apps)
            {
                var spec = specs?.FirstOrDefault(s => s.Name == app.Name) ?? app.Spec;
                var (reloaded, error) = await ApplyAsync(app, spec, null, canary, ReloadStory.Reloaded, null, ct);
                if (error is not null) return Response.Fail(id, error);
                touched.AddRange(reloaded);
            }
            return new Response { Id = id, Ok = true, Touched = touched, Message = $"reloaded {string.Join(", ", apps.Select(a => a.Name))}" };
        }
        finally { _gate.Release(); }
    }

    /// <summary>`nk rollback`: each app goes back to its definition before its last reload, by a rolling reload.</summary>
    public async Task<Response> RollbackAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        foreach (var a in apps) a.Reloads.Interrupt();
        await EnterAsync(ct);
        try
        {
            if (apps.FirstOrDefault(a => a.Reloads.Previous is null) is { } never)
                return Response.Fail(id, $"{never.Name} was not reloaded since this daemon has known it: there is no earlier definition to go back to");
            var touched = new List<Touched>();
            foreach (var app in apps)
            {
                var story = new ReloadStory(ctx.Clock.GetUtcNow(), ReloadStory.Rollback, null, "nk rollback: back to the definition before the last reload", []);
                var (reloaded, error) = await ApplyAsync(app, app.Reloads.Previous!, null, TimeSpan.Zero, ReloadStory.Rollback, story, ct);
                if (error is not null) return Response.Fail(id, error);
                touched.AddRange(reloaded);
            }
            return new Response { Id = id, Ok = true, Touched = touched, Message = $"rolled back {string.Join(", ", apps.Select(a => a.Name))}" };
        }
        finally { _gate.Release(); }
    }

    /// <summary>
    /// Takes a new definition: instance by instance when it can, else by stopping and starting the app (a changed port
    /// or log file). <paramref name="story"/>: what to record when it went through (null: a reload's own story).
    /// </summary>
    private async Task<(List<Touched> Touched, string? Error)> ApplyAsync(AppRuntime app, AppSpec spec, string? configPath, TimeSpan? canary,
        string outcome, ReloadStory? story, CancellationToken ct)
    {
        app.Reloads.Interrupt();
        if (CanReloadInPlace(app.Spec, spec)) return await ReloadAppAsync(app, spec, configPath, canary, outcome, story, ct);
        var previous = app.Spec;
        app.ReleasingPort = true;
        await StopInstancesAsync(app.Instances);
        app.ReleaseListener();
        foreach (var gone in await app.RedefineAsync(spec, configPath ?? app.ConfigPath)) await gone.DisposeAsync();
        app.Reloads.Previous = previous;
        app.Reloads.Record(story ?? new ReloadStory(ctx.Clock.GetUtcNow(), outcome, null, "stopped and started again (its port or log files changed)", []));
        return (Post(app.Instances, app, new StartRequested()).ToList(), null);
    }

    private async Task<(List<Touched> Touched, string? Error)> ReloadAppAsync(AppRuntime app, AppSpec spec, string? configPath, TimeSpan? canary,
        string outcome, ReloadStory? story, CancellationToken ct)
    {
        var canaryFor = canary ?? spec.Reload.Canary;
        if (canaryFor > TimeSpan.Zero && spec.Port is not null && !spec.SharesPort)
            return ([], $"reload of {app.Name}: a canary runs beside the old instances, which needs port_mode = \"shared\" (in increment mode it would need the port of instance 0); reload with --canary 0");
        var previous = app.Spec;
        // What the old version showed in its life, for the watch after the cut-over to compare with.
        var before = ReloadFigures.OverTheirLife(app.Instances, ctx.Clock.GetUtcNow());
        before.Poll();
        app.Adopt(spec, configPath);
        var touched = new List<Touched>();
        var evidence = new List<string>();
        var first = 0;
        if (canaryFor > TimeSpan.Zero && app.Instances.Count > 0 && Running(app.Instances[0]))
        {
            var (passed, error) = await CanaryAsync(app, previous, canaryFor, ct);
            if (error is not null) return ([], error);
            evidence.Add(passed!);
            first = 1;
        }
        // An instance that listens on a port of its own (increment mode) holds it until it ends: its replacement could
        // not bind it, and a probe of the port would hear the old one answer. So that one stops first, the others serve.
        var ownPort = spec.Port is not null && !spec.SharesPort;
        for (var i = first; i < app.Instances.Count; i++)
        {
            var old = app.Instances[i];
            if (!Running(old))
            {
                touched.AddRange(Post([old], app, new StartRequested()));
                continue;
            }
            if (ownPort) await StopInstancesAsync([old]);
            var fresh = app.Replacement(i, old);
            fresh.Post(new StartRequested());
            var why = await ReadyAsync(app, fresh, i == 0 ? previous : null, ct);
            if (why is not null)
            {
                app.Reloads.Record(new ReloadStory(ctx.Clock.GetUtcNow(), ReloadStory.NotReady, null, $"the new instance {i} did not become ready ({why})", [why]));
                if (!ownPort)
                    return ([], $"reload of {app.Name}: the new instance {i} did not become ready ({why}); the old instances keep serving (see nk logs {app.Name} --err)");
                old.Post(new StartRequested());
                return ([], $"reload of {app.Name}: the new instance {i} did not become ready ({why}); it listens on a port of its own, so the old instance {i} had stopped first and is started again, the others keep serving (see nk logs {app.Name} --err)");
            }
            app.Swap(i, fresh);
            await StopInstancesAsync([old]);
            await old.DisposeAsync();
        }
        var (added, removed) = app.Scale(spec.Instances);
        await StopInstancesAsync(removed);
        foreach (var r in removed) await r.DisposeAsync();
        touched.AddRange(Post(added, app, new StartRequested()));
        app.Reloads.Previous = previous;
        app.Reloads.Record(story ?? new ReloadStory(ctx.Clock.GetUtcNow(), outcome, null, $"{app.Instances.Count} instance(s) replaced one at a time", evidence));
        if (story is null && spec.Reload.Watch > TimeSpan.Zero && app.Instances.Any(Running))
        {
            // Begun here, before the answer: a status right after `nk reload` shows the watch.
            var start = ctx.Clock.GetUtcNow();
            var guard = app.Reloads.Begin("watching", start, start + spec.Reload.Watch, ct);
            _ = Task.Run(() => WatchAsync(app, previous, before, spec.Reload, start, guard, ct), CancellationToken.None);
        }
        return (touched, null);
    }

    /// <summary>
    /// Waits until a replacement is ready; null when it is, else why not (it was stopped and disposed, and, for the
    /// first one, the app took <paramref name="restore"/> back: instances not yet replaced keep the definition they run).
    /// </summary>
    private async Task<string?> ReadyAsync(AppRuntime app, InstanceRunner fresh, AppSpec? restore, CancellationToken ct)
    {
        try
        {
            await fresh.WaitAsync(s => !Settle.Of(s, startsBefore: 0).IsPending, ct);
        }
        catch (OperationCanceledException)
        {
            // The daemon is shutting down: the replacement is not the app's yet, so it is ours to stop.
            await RetireAsync(app, fresh, restore);
            throw;
        }
        if (Settle.Of(fresh.State, startsBefore: 0).Outcome == SettleOutcome.Ready) return null;
        var why = fresh.State.LastExit is { } e ? $"{e.Reason}{(e.Code is { } c ? $" (code {c})" : e.Signal is { } sg ? $" ({sg})" : "")}" : "not ready";
        await RetireAsync(app, fresh, restore);
        return why;
    }

    /// <summary>Stops a replacement that will not be the app's; <paramref name="restore"/>: the definition the app goes back to.</summary>
    private static async Task RetireAsync(AppRuntime app, InstanceRunner fresh, AppSpec? restore)
    {
        await StopInstancesAsync([fresh]);
        if (app.Canary == fresh) app.Canary = null;
        await fresh.DisposeAsync();
        if (restore is not null) app.Adopt(restore, null);
    }

    /// <summary>
    /// The first replacement runs beside the old instances (all of them accept on the shared socket) for
    /// <paramref name="duration"/> once ready, and is compared with them (ReloadVerdict.OfCanary) four times a second.
    /// Worse, or interrupted: it is retired and the old definition stays (the error says why). Fine: it takes slot 0
    /// and the old instance 0 retires; the result is the evidence line for the reload's story.
    /// </summary>
    private async Task<(string? Passed, string? Error)> CanaryAsync(AppRuntime app, AppSpec previous, TimeSpan duration, CancellationToken ct)
    {
        var old = app.Instances[0];
        var fresh = app.Replacement(0, old);
        var launched = ctx.Clock.GetUtcNow();
        var guard = app.Reloads.Begin("canary", launched, launched + duration, ct);
        app.Canary = fresh;
        fresh.Post(new StartRequested());
        string? notReady;
        try { notReady = await ReadyAsync(app, fresh, previous, guard); }
        catch (OperationCanceledException)
        {
            app.Reloads.End(guard);
            ct.ThrowIfCancellationRequested();
            return (null, $"reload of {app.Name}: interrupted while its canary started (nk stop, delete or another reload); the old definition stays");
        }
        if (notReady is not null)
        {
            app.Reloads.End(guard);
            app.Reloads.Record(new ReloadStory(ctx.Clock.GetUtcNow(), ReloadStory.NotReady, null, $"the canary did not become ready ({notReady})", [notReady]));
            return (null, $"reload of {app.Name}: the canary did not become ready ({notReady}); the old instances keep serving (see nk logs {app.Name} --err)");
        }

        var ready = ctx.Clock.GetUtcNow();
        var until = ready + duration;
        guard = app.Reloads.Begin("canary", launched, until, ct);
        var canary = new ReloadFigures([fresh], ready, fromNow: false);
        var olds = new ReloadFigures(app.Instances, ready, fromNow: true);
        Verdict verdict;
        string summary;
        try
        {
            while (true)
            {
                (verdict, summary) = JudgeCanary(app, canary, olds);
                var now = ctx.Clock.GetUtcNow();
                if (verdict.Worse || now >= until) break;
                var wait = until - now < GuardTick ? until - now : GuardTick;
                await Task.Delay(wait, ctx.Clock, guard);
            }
        }
        catch (OperationCanceledException)
        {
            app.Reloads.End(guard);
            await RetireAsync(app, fresh, previous);
            ct.ThrowIfCancellationRequested();
            return (null, $"reload of {app.Name}: interrupted during its canary (nk stop, delete or another reload); the old definition stays");
        }
        app.Reloads.End(guard);
        var ran = (ctx.Clock.GetUtcNow() - ready).TotalSeconds;
        if (verdict.Worse)
        {
            var pid = fresh.State.Pid;
            await RetireAsync(app, fresh, previous);
            var text = $"the canary (pid {pid?.ToString() ?? "-"}) was worse than the old instances after {ran:0.#} s: {string.Join("; ", verdict.Evidence)}";
            ctx.Logger.LogWarning("{App}: reload backed out: {Text}", app.Name, text);
            app.Reloads.Record(new ReloadStory(ctx.Clock.GetUtcNow(), ReloadStory.CanaryFailed, verdict.Reason, text, verdict.Evidence));
            return (null, $"reload of {app.Name}: {text}; it was retired and the old definition stays (nk why {app.Name})");
        }
        app.Swap(0, fresh);
        app.Canary = null;
        await StopInstancesAsync([old]);
        await old.DisposeAsync();
        ctx.Logger.LogInformation("{App}: the canary ran {Seconds:0.#} s beside the old instances: {Summary}", app.Name, ran, summary);
        return ($"the canary ran {ran:0.#} s beside the old instances: {summary}", null);
    }

    private static (Verdict Verdict, string Summary) JudgeCanary(AppRuntime app, ReloadFigures canary, ReloadFigures olds)
    {
        var (responses, exits, errored, exitEvidence) = canary.Poll();
        var (oldResponses, _, _, _) = olds.Poll();
        var health = app.Reloads.TakeCanaryFailure();
        var figures = new VersionFigures(responses, oldResponses, exits + (health is null ? 0 : 1), errored,
            canary.MedianLagMs(), olds.MedianLagMs(), canary.GrowthMbPerMin(), olds.GrowthMbPerMin());
        var verdict = ReloadVerdict.OfCanary(figures, app.Spec.Reload);
        if (health is not null && verdict.Reason == "crashed") verdict = verdict with { Reason = "health", Evidence = [$"the app's health url failed while the canary ran: {health}", .. exitEvidence] };
        else if (verdict.Reason == "crashed") verdict = verdict with { Evidence = [.. verdict.Evidence, .. exitEvidence] };
        return (verdict, $"new {responses}, old {oldResponses}");
    }

    /// <summary>
    /// After a cut-over, for reload.watch: the new version is compared with what the old one showed in its life
    /// (ReloadVerdict.AfterCutOver). Worse: the previous definition comes back by a rolling reload, and the story says why.
    /// Ends early when another reload, a rollback, a stop or a delete of the app comes.
    /// </summary>
    private async Task WatchAsync(AppRuntime app, AppSpec previous, ReloadFigures before, ReloadSpec reload, DateTimeOffset start,
        CancellationToken guard, CancellationToken ct)
    {
        var (oldResponses, _, _, _) = before.Poll();
        var news = new ReloadFigures(app.Instances, start, fromNow: false);
        try
        {
            while (ctx.Clock.GetUtcNow() < start + reload.Watch)
            {
                await Task.Delay(GuardTick, ctx.Clock, guard);
                var (responses, exits, errored, exitEvidence) = news.Poll();
                var verdict = ReloadVerdict.AfterCutOver(new VersionFigures(responses, oldResponses, exits, errored,
                    news.MedianLagMs(), before.MedianLagMs(), news.GrowthMbPerMin(), before.GrowthMbPerMin()), reload);
                if (!verdict.Worse) continue;
                var text = $"the new version was worse than the old one {(ctx.Clock.GetUtcNow() - start).TotalSeconds:0.#} s after the cut-over: " +
                    string.Join("; ", verdict.Evidence.Concat(exitEvidence));
                ctx.Logger.LogWarning("{App}: rolling back: {Text}", app.Name, text);
                await RollBackAfterWatchAsync(app, previous, guard, new ReloadStory(ctx.Clock.GetUtcNow(), ReloadStory.RolledBack, verdict.Reason,
                    $"rolled back: {text}", [.. verdict.Evidence, .. exitEvidence]), ct);
                return;
            }
        }
        catch (OperationCanceledException) { }
        finally { app.Reloads.End(guard); }
    }

    private async Task RollBackAfterWatchAsync(AppRuntime app, AppSpec previous, CancellationToken guard, ReloadStory story, CancellationToken ct)
    {
        try { await EnterAsync(ct); }
        catch (Exception ex) when (ex is HandingOver or OperationCanceledException) { return; }
        try
        {
            // Another reload, a stop or a delete came first: theirs is the last word.
            if (guard.IsCancellationRequested || !app.Wanted || !Apps.Contains(app)) return;
            var (_, error) = await ApplyAsync(app, previous, null, TimeSpan.Zero, ReloadStory.RolledBack, story, ct);
            if (error is not null) ctx.Logger.LogError("{App}: the rollback failed: {Error}", app.Name, error);
        }
        finally { _gate.Release(); }
    }

    /// <summary>A new definition can replace the old one instance by instance unless the port or the log files change.</summary>
    private static bool CanReloadInPlace(AppSpec old, AppSpec spec) =>
        old.Port == spec.Port && old.PortMode == spec.PortMode && old.Host == spec.Host && old.Log == spec.Log;
}
