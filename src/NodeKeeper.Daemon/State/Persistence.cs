using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Daemon.Apply;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.Daemon.State;

/// <summary>
/// The apps as they are kept on disk and brought back: what state.json and `nk save`'s dump.json hold, and how a
/// takeover and `nk resurrect` define them again. One place, so that both files are written and read alike.
/// </summary>
public sealed class Persistence(Supervisor supervisor, ConfigApply config, DaemonContext ctx)
{
    /// <summary>
    /// Every app as it is now with the [daemon] table in effect; with their processes for the state file (a daemon
    /// taking over ends them), without for the dump (its processes are long gone when it is read).
    /// </summary>
    public SavedState Capture(bool processes)
    {
        var apps = supervisor.Apps.Select(a => new SavedApp(
            StateFile.Strip(a.Spec), a.ConfigPath, a.Wanted,
            processes
                ? a.Instances.Select(i => new SavedInstance(i.Index,
                    i.Process is { } p ? new SavedProcess(p.Pid, p.StartTime) : null,
                    i.KnownProcesses().Select(k => new SavedProcess(k.Pid, k.StartTime)).ToList())).ToList()
                : [])).ToList();
        return new SavedState(SavedState.CurrentVersion, ctx.Clock.GetUtcNow(), Environment.ProcessId, apps) { Daemon = ctx.Daemon };
    }

    /// <summary>
    /// Brings back apps (a predecessor's state after a crash, or `nk resurrect`'s dump) and then the [daemon] table kept
    /// with them in <paramref name="file"/>: each app is defined again as it was and started when it was meant to run; an
    /// app already here is reconciled as `nk start` would. Returns what could not be brought back, and the endpoint's warning.
    /// </summary>
    public async Task<(List<string> Problems, string? Warning)> RestoreAsync(IReadOnlyList<SavedApp> saved, DaemonSpec? daemon, string file, CancellationToken ct)
    {
        var problems = new List<string>();
        // Into an empty daemon (a takeover, or a resurrect before anything was loaded) no process of these apps can be
        // this daemon's: one that still runs is a previous daemon's that its state file did not record.
        if (supervisor.Apps.Count == 0) await Predecessor.EndUnrecordedAsync(ctx.Home, saved, ctx.Clock, ctx.Logger, ct);
        var running = new List<(AppSpec Spec, string? Config)>();
        var stopped = new List<(AppSpec Spec, string? Config)>();
        foreach (var app in saved)
        {
            var (spec, error) = StateFile.Restore(app.Spec);
            if (spec is null) { problems.Add(error!); continue; }
            (app.Running ? running : stopped).Add((spec, app.ConfigPath));
        }
        foreach (var group in running.GroupBy(r => r.Config))
        {
            var r = await supervisor.ApplyAsync(0, group.Select(g => g.Spec).ToList(), group.Key, prune: false, ct);
            if (!r.Ok) problems.Add(r.Error!);
        }
        await supervisor.AddStoppedAsync(stopped, ct);
        // After the orphans are ended; an address taken meanwhile is a warning, and the apps run on.
        return (problems, config.RestoreDaemon(daemon, file));
    }

    /// <summary>
    /// `nk update`: the apps the previous image of this process handed over, taken on as they run (same processes, same
    /// pipes, same listening sockets), then its [daemon] table.
    /// </summary>
    public void Adopt(HandoverRecord handover)
    {
        supervisor.AddAdopted(handover.Apps.Select(a => AppRuntime.Adopt(a, ctx)).ToList());
        if (config.RestoreDaemon(handover.Daemon, Path.GetFileName(NkHome.Handover(ctx.Home))) is { } warning)
            ctx.Logger.LogWarning("nk update: {Warning}", warning);
    }

    /// <summary>`nk save`: the apps and their definitions into dump.json; an empty list never silently replaces a dump.</summary>
    public Response Save(int id, bool force)
    {
        var dump = ctx.DumpPath;
        var state = Capture(processes: false);
        if (state.Apps.Count == 0 && !force && StateFile.Read(dump).State is { Apps.Count: > 0 } old)
            return Response.Fail(id, $"no app is loaded: saving would replace the {old.Apps.Count} app(s) in {dump} with none (nk save --force to do it)");
        try { StateFile.Write(dump, state); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Response.Fail(id, $"cannot write {dump}: {ex.Message}");
        }
        return new Response { Id = id, Ok = true, Message = $"saved {state.Apps.Count} app(s) to {dump}" };
    }

    /// <summary>
    /// `nk resurrect`: the apps of dump.json, defined again and started if they were running when saved, and the dump's
    /// [daemon] table unless a config loaded since is in effect.
    /// </summary>
    public async Task<Response> ResurrectAsync(int id, CancellationToken ct)
    {
        var path = ctx.DumpPath;
        var (dump, error) = StateFile.Read(path);
        if (dump is null) return Response.Fail(id, $"nothing to resurrect: {error} (nk save writes it)");
        var before = supervisor.Apps.Select(a => a.Name).ToHashSet();
        // Apps already loaded (brought back from the state file after a crash, or started since) are left as they are:
        // an older dump must not turn a newer definition back.
        var missing = dump.Apps.Where(a => !before.Contains(a.Spec.Name)).ToList();
        var (problems, warning) = await RestoreAsync(missing, dump.Daemon, Path.GetFileName(path), ct);
        if (problems.Count > 0) return Response.Fail(id, string.Join("; ", problems));
        // The CLI waits for the apps this brought back (those already running are left as they are).
        var touched = supervisor.Apps.Where(a => !before.Contains(a.Name) && dump.Apps.Any(d => d.Running && d.Spec.Name == a.Name))
            .SelectMany(a => a.Instances.Select(i => new Touched(a.Name, i.Index, 0)))
            .ToList();
        var kept = dump.Apps.Count - missing.Count;
        return ConfigApply.WithWarning(new Response { Id = id, Ok = true, Touched = touched,
            Message = $"resurrected {missing.Count} app(s) from {path}" + (kept > 0 ? $"; {kept} already loaded, left as they are" : "") }, warning);
    }
}
