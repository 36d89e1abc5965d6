using System.Text.Json;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>The set of supervised apps and the operations the control socket asks for.</summary>
public sealed class Supervisor(DaemonContext ctx) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<AppRuntime> _apps = [];

    /// <summary>A snapshot of the apps, for the sampler and status.</summary>
    public IReadOnlyList<AppRuntime> Apps { get { lock (_apps) return [.. _apps]; } }

    private AppRuntime? Find(string name) => Apps.FirstOrDefault(a => a.Name == name);

    /// <summary>Loads a config: new apps start, changed apps restart with their new definition, stopped ones start.</summary>
    public async Task<Response> ApplyAsync(int id, IReadOnlyList<AppSpec> specs, string? configPath, bool prune, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var touched = new List<Touched>();
            foreach (var spec in specs)
            {
                var app = Find(spec.Name);
                if (app is not null) app.Wanted = true;
                if (app is null)
                {
                    app = new AppRuntime(spec, configPath, ctx);
                    lock (_apps) _apps.Add(app);
                    touched.AddRange(Post(app.Instances, app, new StartRequested()));
                }
                else if (!SameDefinition(app.Spec, spec) && CanReloadInPlace(app.Spec, spec))
                {
                    var (reloaded, error) = await ReloadAppAsync(app, spec, configPath, ct);
                    if (error is not null) return Response.Fail(id, error);
                    touched.AddRange(reloaded);
                }
                else if (!SameDefinition(app.Spec, spec))
                {
                    await StopInstancesAsync(app.Instances);
                    if (spec.Port != app.Spec.Port || spec.PortMode != app.Spec.PortMode || spec.Host != app.Spec.Host) app.ReleaseListener();
                    foreach (var gone in await app.RedefineAsync(spec, configPath)) await gone.DisposeAsync();
                    touched.AddRange(Post(app.Instances, app, new StartRequested()));
                }
                else
                {
                    touched.AddRange(Post(app.Instances.Where(i => !Running(i)), app, new StartRequested()));
                }
            }
            if (prune)
                foreach (var app in Apps.Where(a => specs.All(s => s.Name != a.Name)))
                    await RemoveAsync(app, ct);
            return new Response { Id = id, Ok = true, Touched = touched };
        }
        finally { _gate.Release(); }
    }

    /// <summary>
    /// Brings back apps (a predecessor's state after a crash, or `nk resurrect`'s dump): each is defined again as it was
    /// and started when it was meant to run. An app already here is reconciled as `nk start` would.
    /// </summary>
    public async Task<List<string>> RestoreAsync(IReadOnlyList<State.SavedApp> saved, CancellationToken ct)
    {
        var problems = new List<string>();
        // Into an empty daemon (a takeover, or a resurrect before anything was loaded) no process of these apps can be
        // this daemon's: one that still runs is a previous daemon's that its state file did not record.
        if (Apps.Count == 0) await State.Predecessor.EndUnrecordedAsync(ctx.Home, saved, ctx.Clock, ctx.Logger, ct);
        var running = new List<(AppSpec Spec, string? Config)>();
        var stopped = new List<AppSpec>();
        foreach (var app in saved)
        {
            var (spec, error) = State.StateFile.Restore(app.Spec);
            if (spec is null) { problems.Add(error!); continue; }
            if (app.Running) running.Add((spec, app.ConfigPath));
            else stopped.Add(spec);
        }
        foreach (var group in running.GroupBy(r => r.Config))
        {
            var r = await ApplyAsync(0, group.Select(g => g.Spec).ToList(), group.Key, prune: false, ct);
            if (!r.Ok) problems.Add(r.Error!);
        }
        await _gate.WaitAsync(ct);
        try
        {
            foreach (var spec in stopped.Where(s => Find(s.Name) is null))
            {
                var configPath = saved.First(a => a.Spec.Name == spec.Name).ConfigPath;
                lock (_apps) _apps.Add(new AppRuntime(spec, configPath, ctx) { Wanted = false });
            }
        }
        finally { _gate.Release(); }
        ctx.StateChanged();
        return problems;
    }

    public string DumpPath => Path.Combine(ctx.Home, "dump.json");

    /// <summary>`nk save`: the apps and their definitions into dump.json; an empty list never silently replaces a dump.</summary>
    public Response Save(int id, bool force)
    {
        var apps = Snapshot().Select(a => a with { Instances = [] }).ToList();
        if (apps.Count == 0 && !force && State.StateFile.Read(DumpPath).State is { Apps.Count: > 0 } old)
            return Response.Fail(id, $"no app is loaded: saving would replace the {old.Apps.Count} app(s) in {DumpPath} with none (nk save --force to do it)");
        try { State.StateFile.Write(DumpPath, new State.SavedState(State.SavedState.CurrentVersion, ctx.Clock.GetUtcNow(), Environment.ProcessId, apps) { Daemon = ctx.Daemon }); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Response.Fail(id, $"cannot write {DumpPath}: {ex.Message}");
        }
        return new Response { Id = id, Ok = true, Message = $"saved {apps.Count} app(s) to {DumpPath}" };
    }

    /// <summary>
    /// `nk resurrect`: the apps of dump.json, defined again and started if they were running when saved; with the
    /// dump's [daemon] table, for the caller to bring back.
    /// </summary>
    public async Task<(Response Response, DaemonSpec? Daemon)> ResurrectAsync(int id, CancellationToken ct)
    {
        var (dump, error) = State.StateFile.Read(DumpPath);
        if (dump is null) return (Response.Fail(id, $"nothing to resurrect: {error} (nk save writes it)"), null);
        var before = Apps.Select(a => a.Name).ToHashSet();
        // Apps already loaded (brought back from the state file after a crash, or started since) are left as they are:
        // an older dump must not turn a newer definition back.
        var missing = dump.Apps.Where(a => !before.Contains(a.Spec.Name)).ToList();
        var problems = await RestoreAsync(missing, ct);
        if (problems.Count > 0) return (Response.Fail(id, string.Join("; ", problems)), dump.Daemon);
        // The CLI waits for the apps this brought back (those already running are left as they are).
        var touched = Apps.Where(a => !before.Contains(a.Name) && dump.Apps.Any(d => d.Running && d.Spec.Name == a.Name))
            .SelectMany(a => a.Instances.Select(i => new Touched(a.Name, i.Index, 0)))
            .ToList();
        var kept = dump.Apps.Count - missing.Count;
        return (new Response { Id = id, Ok = true, Touched = touched,
            Message = $"resurrected {missing.Count} app(s) from {DumpPath}" + (kept > 0 ? $"; {kept} already loaded, left as they are" : "") }, dump.Daemon);
    }

    /// <summary>Every app as it is now, for the state file and the dump (env_file values left out).</summary>
    public List<State.SavedApp> Snapshot() => Apps.Select(a => new State.SavedApp(
        State.StateFile.Strip(a.Spec), a.ConfigPath, a.Wanted,
        a.Instances.Select(i => new State.SavedInstance(i.Index,
            i.Process is { } p ? new State.SavedProcess(p.Pid, p.StartTime) : null,
            i.KnownProcesses().Select(k => new State.SavedProcess(k.Pid, k.StartTime)).ToList())).ToList())).ToList();

    /// <summary>Resolves names ("all" = every app); the error names the unknown app.</summary>
    public (List<AppRuntime> Apps, string? Error) Resolve(IReadOnlyList<string>? names)
    {
        var all = Apps;
        if (names is null || names.Count == 0 || names.Contains("all")) return (all.ToList(), null);
        var found = new List<AppRuntime>();
        foreach (var n in names)
        {
            var app = all.FirstOrDefault(a => a.Name == n);
            if (app is null)
                return ([], all.Count == 0
                    ? $"unknown app \"{n}\": no app is loaded (run nk start CONFIG)"
                    : $"unknown app \"{n}\" (known: {string.Join(", ", all.Select(a => a.Name))})");
            if (!found.Contains(app)) found.Add(app);
        }
        return (found, null);
    }

    public async Task<Response> StartAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            foreach (var a in apps) a.Wanted = true;
            var touched = apps.SelectMany(a => Post(a.Instances.Where(i => !Running(i)), a, new StartRequested())).ToList();
            return new Response { Id = id, Ok = true, Touched = touched };
        }
        finally { _gate.Release(); }
    }

    public async Task<Response> RestartAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            foreach (var a in apps) a.Wanted = true;
            var touched = apps.SelectMany(a => Post(a.Instances, a, new RestartRequested(ExitReasons.Restart))).ToList();
            return new Response { Id = id, Ok = true, Touched = touched };
        }
        finally { _gate.Release(); }
    }

    /// <summary>
    /// Zero-downtime reload, one instance at a time: start the replacement, wait until it is ready, then retire the old
    /// one (it drains first in shared mode). A replacement that does not become ready is stopped, the old instances
    /// keep serving, and the error says why. New definitions (env included) are taken when given.
    /// </summary>
    public async Task<Response> ReloadAsync(int id, List<AppRuntime> apps, IReadOnlyList<AppSpec>? specs, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var touched = new List<Touched>();
            foreach (var app in apps)
            {
                var spec = specs?.FirstOrDefault(s => s.Name == app.Name) ?? app.Spec;
                if (!CanReloadInPlace(app.Spec, spec))
                {
                    app.ReleasingPort = true;
                    await StopInstancesAsync(app.Instances);
                    app.ReleaseListener();
                    foreach (var gone in await app.RedefineAsync(spec, app.ConfigPath)) await gone.DisposeAsync();
                    touched.AddRange(Post(app.Instances, app, new StartRequested()));
                    continue;
                }
                var (reloaded, error) = await ReloadAppAsync(app, spec, null, ct);
                if (error is not null) return Response.Fail(id, error);
                touched.AddRange(reloaded);
            }
            return new Response { Id = id, Ok = true, Touched = touched, Message = $"reloaded {string.Join(", ", apps.Select(a => a.Name))}" };
        }
        finally { _gate.Release(); }
    }

    private async Task<(List<Touched> Touched, string? Error)> ReloadAppAsync(AppRuntime app, AppSpec spec, string? configPath, CancellationToken ct)
    {
        var previous = app.Spec;
        app.Adopt(spec, configPath);
        var touched = new List<Touched>();
        for (var i = 0; i < app.Instances.Count; i++)
        {
            var old = app.Instances[i];
            if (!Running(old))
            {
                touched.AddRange(Post([old], app, new StartRequested()));
                continue;
            }
            var fresh = app.Replacement(i, old);
            fresh.Post(new StartRequested());
            try
            {
                await fresh.WaitAsync(s => s.Status == InstanceStatus.Online
                    || s.Starts > 0 && s.Status is InstanceStatus.Backoff or InstanceStatus.Errored or InstanceStatus.Stopped, ct);
            }
            catch (OperationCanceledException)
            {
                // The daemon is shutting down: the replacement is not the app's yet, so it is ours to stop.
                await StopInstancesAsync([fresh]);
                await fresh.DisposeAsync();
                if (i == 0) app.Adopt(previous, null);
                throw;
            }
            if (fresh.State.Status != InstanceStatus.Online)
            {
                var why = fresh.State.LastExit is { } e ? $"{e.Reason}{(e.Code is { } c ? $" (code {c})" : e.Signal is { } sg ? $" ({sg})" : "")}" : "not ready";
                await StopInstancesAsync([fresh]);
                await fresh.DisposeAsync();
                // Instances not yet replaced keep the definition they run, also when they restart later.
                if (i == 0) app.Adopt(previous, null);
                return ([], $"reload of {app.Name}: the new instance {i} did not become ready ({why}); the old instances keep serving (see nk logs {app.Name} --err)");
            }
            app.Swap(i, fresh);
            await StopInstancesAsync([old]);
            await old.DisposeAsync();
        }
        var (added, removed) = app.Scale(spec.Instances);
        await StopInstancesAsync(removed);
        foreach (var r in removed) await r.DisposeAsync();
        touched.AddRange(Post(added, app, new StartRequested()));
        return (touched, null);
    }

    /// <summary>`nk scale NAME N`: new instances start; the highest ones stop gracefully.</summary>
    public async Task<Response> ScaleAsync(int id, AppRuntime app, int count, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var (added, removed) = app.Scale(count);
            await StopInstancesAsync(removed);
            foreach (var r in removed) await r.DisposeAsync();
            return new Response { Id = id, Ok = true, Touched = Post(added, app, new StartRequested()).ToList(), Message = $"{app.Name}: {count} instance(s)" };
        }
        finally { _gate.Release(); }
    }

    /// <summary>A new definition can replace the old one instance by instance unless the port or the log files change.</summary>
    private static bool CanReloadInPlace(AppSpec old, AppSpec spec) =>
        old.Port == spec.Port && old.PortMode == spec.PortMode && old.Host == spec.Host && old.Log == spec.Log;

    public async Task<Response> StopAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            foreach (var a in apps) { a.Wanted = false; a.ReleasingPort = true; }
            await Task.WhenAll(apps.Select(a => StopInstancesAsync(a.Instances)));
            foreach (var a in apps) a.ReleaseListener();
            ctx.StateChanged();
            return new Response { Id = id, Ok = true, Message = $"stopped {string.Join(", ", apps.Select(a => a.Name))}" };
        }
        finally { _gate.Release(); }
    }

    public async Task<Response> DeleteAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await Task.WhenAll(apps.Select(a => RemoveAsync(a, ct)));
            return new Response { Id = id, Ok = true, Message = $"deleted {string.Join(", ", apps.Select(a => a.Name))}" };
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops every app gracefully (daemon shutdown, nk kill).</summary>
    public async Task StopAllAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            foreach (var a in Apps) a.ReleasingPort = true;
            await Task.WhenAll(Apps.Select(a => StopInstancesAsync(a.Instances)));
        }
        finally { _gate.Release(); }
    }

    public List<InstanceInfo> Status(List<AppRuntime> apps) => apps.SelectMany(a => a.Instances.Select(i => i.Info())).ToList();

    public AppDescription Describe(AppRuntime app, bool showEnv)
    {
        var s = app.Spec;
        var env = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (k, v) in s.MergedEnv()) env[k] = showEnv ? v : null;
        var exits = RecentExits(app).Take(20).ToList();
        return new AppDescription
        {
            Name = s.Name, Script = s.Script, Cwd = s.Cwd, Args = s.Args, NodeArgs = s.NodeArgs,
            Interpreter = s.Interpreter, Instances = s.Instances, Port = s.Port,
            PortMode = s.PortMode.Word(), Host = s.Host,
            Ready = s.Ready.Word(),
            Restart = s.Restart.Word(),
            ConfigPath = app.ConfigPath, EnvFile = s.EnvFile, Env = env,
            OutLog = s.Log.Out, ErrLog = s.Log.Err, MaxMemory = s.MaxMemory, MaxOpenFiles = s.MaxOpenFiles,
            InstanceList = app.Instances.Select(i => i.Info()).ToList(),
            RecentExits = exits,
            LogDroppedLines = app.Out.DroppedLines + app.Err.DroppedLines,
            LogProblem = app.Out.Problem ?? app.Err.Problem,
        };
    }

    /// <summary>Every instance's kept exits, newest first.</summary>
    private static IEnumerable<RecentExit> RecentExits(AppRuntime app) => app.Instances
        .SelectMany(i => i.History.Select(h => new RecentExit(i.Index, h.Exit.Code, h.Exit.Signal, h.Exit.Reason, h.Exit.At,
            h.Delay is { } d ? (long)d.TotalMilliseconds : null) { Cause = h.Cause, Evidence = h.Evidence, Before = h.Before }))
        .OrderByDescending(e => e.At);

    /// <summary>`nk why`: the diagnosis of an app's recent exits and of what its instances show now.</summary>
    public WhyReport Why(AppRuntime app) =>
        Core.Diagnosis.Why.Build(app.Spec, RecentExits(app).ToList(), Status([app]), ctx.Clock.GetUtcNow());

    private static bool Running(InstanceRunner i) => i.State.Status is not (InstanceStatus.Stopped or InstanceStatus.Errored);

    private static IEnumerable<Touched> Post(IEnumerable<InstanceRunner> instances, AppRuntime app, InstanceEvent e)
    {
        var list = new List<Touched>();
        foreach (var i in instances)
        {
            list.Add(new Touched(app.Name, i.Index, i.State.Starts));
            i.Post(e);
        }
        return list;
    }

    /// <summary>
    /// Stops instances and waits until they have ended. Never cut short (a stop is bounded by kill_timeout): an instance
    /// a cancelled request has already taken out of its app must not be left running when the daemon shuts down.
    /// </summary>
    private static async Task StopInstancesAsync(IEnumerable<InstanceRunner> instances)
    {
        var list = instances.ToList();
        foreach (var i in list) i.Post(new StopRequested());
        await Task.WhenAll(list.Select(i => i.WaitAsync(s => s.Status is InstanceStatus.Stopped or InstanceStatus.Errored, CancellationToken.None)));
    }

    private async Task RemoveAsync(AppRuntime app, CancellationToken ct)
    {
        app.ReleasingPort = true;
        await StopInstancesAsync(app.Instances);
        lock (_apps) _apps.Remove(app);
        await app.DisposeAsync();
        ctx.StateChanged();
    }

    private static bool SameDefinition(AppSpec a, AppSpec b) =>
        JsonSerializer.Serialize(a, ProtocolJson.Default.AppSpec) == JsonSerializer.Serialize(b, ProtocolJson.Default.AppSpec);

    public async ValueTask DisposeAsync()
    {
        foreach (var a in Apps) await a.DisposeAsync();
    }
}
