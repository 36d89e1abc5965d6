using System.Text.Json;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>The set of supervised apps and the operations the control socket asks for.</summary>
public sealed partial class Supervisor(DaemonContext ctx) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<AppRuntime> _apps = [];

    /// <summary>A snapshot of the apps, for the sampler and status.</summary>
    public IReadOnlyList<AppRuntime> Apps { get { lock (_apps) return [.. _apps]; } }

    private CancellationTokenSource _handingOver = new();

    /// <summary>
    /// Takes the gate every change of the apps takes. While `nk update` hands the daemon over, a request still waiting
    /// for it is given up with <see cref="HandingOver"/>: the next image handles it, from the start.
    /// </summary>
    private async Task EnterAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _handingOver.Token);
        try { await _gate.WaitAsync(linked.Token); }
        catch (OperationCanceledException) when (_handingOver.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new HandingOver(null, null, null);
        }
    }

    /// <summary>
    /// `nk update`: runs <paramref name="handOver"/> holding the gate, once every change under way has ended; the requests
    /// that wait for the gate or for instances to settle meanwhile are given up with <see cref="HandingOver"/> for the
    /// next image. When it returns (the exec did not happen), requests go on as before.
    /// </summary>
    public async Task<T> HandOverAsync<T>(Func<Task<T>> handOver, CancellationToken ct)
    {
        await EnterAsync(ct);
        try
        {
            await _handingOver.CancelAsync();
            return await handOver();
        }
        finally
        {
            _handingOver = new CancellationTokenSource();
            _gate.Release();
        }
    }

    /// <summary>Takes on the apps a previous daemon image handed over, as they run.</summary>
    public void AddAdopted(IEnumerable<AppRuntime> apps)
    {
        lock (_apps) _apps.AddRange(apps);
        ctx.StateChanged();
    }

    private AppRuntime? Find(string name) => Apps.FirstOrDefault(a => a.Name == name);

    /// <summary>Loads a config: new apps start, changed apps restart with their new definition, stopped ones start.</summary>
    public async Task<Response> ApplyAsync(int id, IReadOnlyList<AppSpec> specs, string? configPath, bool prune, CancellationToken ct)
    {
        await EnterAsync(ct);
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
                    app.Reloads.Interrupt();
                    var (reloaded, error) = await ReloadAppAsync(app, spec, configPath, null, ReloadStory.Reloaded, null, ct);
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

    /// <summary>Defines apps that are not meant to run (a saved state's stopped ones); a name already here is left as it is.</summary>
    public async Task AddStoppedAsync(IReadOnlyList<(AppSpec Spec, string? ConfigPath)> apps, CancellationToken ct)
    {
        await EnterAsync(ct);
        try
        {
            foreach (var (spec, configPath) in apps)
                if (Find(spec.Name) is null)
                    lock (_apps) _apps.Add(new AppRuntime(spec, configPath, ctx) { Wanted = false });
        }
        finally { _gate.Release(); }
        ctx.StateChanged();
    }

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
        await EnterAsync(ct);
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
        await EnterAsync(ct);
        try
        {
            foreach (var a in apps) a.Wanted = true;
            var touched = apps.SelectMany(a => Post(a.Instances, a, new RestartRequested(ExitReasons.Restart))).ToList();
            return new Response { Id = id, Ok = true, Touched = touched };
        }
        finally { _gate.Release(); }
    }

    /// <summary>`nk scale NAME N`: new instances start; the highest ones stop gracefully.</summary>
    public async Task<Response> ScaleAsync(int id, AppRuntime app, int count, CancellationToken ct)
    {
        await EnterAsync(ct);
        try
        {
            var (added, removed) = app.Scale(count);
            await StopInstancesAsync(removed);
            foreach (var r in removed) await r.DisposeAsync();
            return new Response { Id = id, Ok = true, Touched = Post(added, app, new StartRequested()).ToList(), Message = $"{app.Name}: {count} instance(s)" };
        }
        finally { _gate.Release(); }
    }

    /// <summary>
    /// A request's answer once the instances it touched have settled (Settle), or after waitMs: each one that did not
    /// become ready is a failure line, and every instance's status comes along, so a client needs no second request.
    /// Awaited outside the gate: status and other commands are served meanwhile. No waitMs: the answer as it is.
    /// <paramref name="until"/>: when the wait ends, for one a previous image began (`nk update`); else waitMs from now.
    /// </summary>
    public async Task<Response> SettledAsync(Response r, int? waitMs, CancellationToken ct, DateTimeOffset? until = null)
    {
        if (!r.Ok || waitMs is not { } ms || r.Touched is not { } touched) return r;
        var wait = TimeSpan.FromMilliseconds(Math.Max(0, ms));
        var end = until ?? ctx.Clock.GetUtcNow() + wait;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _handingOver.Token);
        IReadOnlyList<string> failures;
        try { failures = await WaitSettledAsync(touched, end - ctx.Clock.GetUtcNow(), wait, linked.Token); }
        catch (OperationCanceledException) when (_handingOver.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // The next image waits on where this one stopped, and answers.
            throw new HandingOver(r, end, ms);
        }
        return r with { Failures = failures, Instances = Status([.. Apps]) };
    }

    /// <summary>Looks at the touched instances after every change of any instance (one may also go: scaled down, deleted).</summary>
    private async Task<IReadOnlyList<string>> WaitSettledAsync(IReadOnlyList<Touched> touched, TimeSpan deadline, TimeSpan said, CancellationToken ct)
    {
        var signal = NewSignal();
        void OnChanged() => Interlocked.Exchange(ref signal, NewSignal()).TrySetResult();
        ctx.Changed += OnChanged;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(deadline > TimeSpan.Zero ? deadline : TimeSpan.Zero);
        var watch = new SettleWatch(touched);
        try
        {
            while (true)
            {
                var changed = Volatile.Read(ref signal);
                if (watch.Update(t => Find(t.Name)?.Instances.FirstOrDefault(i => i.Index == t.Instance)?.State, ctx.Clock.GetUtcNow())) return watch.Failures;
                try { await changed.Task.WaitAsync(timeout.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    watch.Expire(said);
                    return watch.Failures;
                }
            }
        }
        finally { ctx.Changed -= OnChanged; }
    }

    /// <summary>
    /// A request given up because the daemon is being handed to a new image: <paramref name="Waiting"/> null, it was
    /// not started and the next image handles it; else it had acted and was waiting for instances to settle until
    /// <paramref name="Until"/>, and the next image waits on and answers.
    /// </summary>
    public sealed class HandingOver(Response? waiting, DateTimeOffset? until, int? waitMs) : Exception("the daemon is being handed to a new image")
    {
        public Response? Waiting { get; } = waiting;
        public DateTimeOffset? Until { get; } = until;
        public int? WaitMs { get; } = waitMs;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Restarts an app's instances one at a time (health, watch), so that the others keep serving: the next one once the
    /// previous has settled (Settle), or after Settle.Deadline. <paramref name="restart"/> restarts one instance, or
    /// returns false to leave it be. An app stopped meanwhile is left stopped.
    /// </summary>
    public static async Task RollingRestartAsync(AppRuntime app, Func<InstanceRunner, bool> restart, CancellationToken ct)
    {
        try
        {
            foreach (var i in app.Instances.ToList())
            {
                if (!app.Wanted) return;
                var starts = i.State.Starts;
                if (!restart(i)) continue;
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(Settle.Deadline(app.Spec));
                try { await i.WaitAsync(s => !Settle.Of(s, starts).IsPending || !app.Wanted, deadline.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
            }
        }
        catch (OperationCanceledException) { }
    }

    public async Task<Response> StopAsync(int id, List<AppRuntime> apps, CancellationToken ct)
    {
        // A canary or a watch of these apps ends: the user's word comes first.
        foreach (var a in apps) a.Reloads.Interrupt();
        await EnterAsync(ct);
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
        // A canary or a watch of these apps ends: the user's word comes first.
        foreach (var a in apps) a.Reloads.Interrupt();
        await EnterAsync(ct);
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
        await EnterAsync(ct);
        try
        {
            foreach (var a in Apps) a.ReleasingPort = true;
            await Task.WhenAll(Apps.Select(a => StopInstancesAsync(a.Instances)));
        }
        finally { _gate.Release(); }
    }

    public List<InstanceInfo> Status(List<AppRuntime> apps) => apps.SelectMany(Rows).ToList();

    /// <summary>An app's rows: its instances, then its canary (role "canary"), each with the app's reload state.</summary>
    private static IEnumerable<InstanceInfo> Rows(AppRuntime app)
    {
        var reload = app.Reloads.Info();
        foreach (var i in app.Instances) yield return i.Info() with { Reload = reload };
        if (app.Canary is { } c) yield return c.Info() with { Role = "canary", Reload = reload };
    }

    public AppDescription Describe(AppRuntime app, bool showEnv)
    {
        var s = app.Spec;
        var env = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (k, v) in s.MergedEnv()) env[k] = showEnv ? v : null;
        var exits = RecentExits(app).Take(20).ToList();
        return new AppDescription
        {
            Name = s.Name, Script = s.Script, Cwd = s.Cwd, Args = s.Args, NodeArgs = s.NodeArgs,
            Interpreter = s.Interpreter, InterpreterArgs = s.InterpreterArgs, Instances = s.Instances, Port = s.Port,
            PortMode = s.PortMode.Word(), Host = s.Host,
            Ready = s.Ready.Word(),
            Restart = s.Restart.Word(),
            ConfigPath = app.ConfigPath, EnvFile = s.EnvFile, Env = env,
            OutLog = s.Log.Out, ErrLog = s.Log.Err, MaxMemory = s.MaxMemory, MaxOpenFiles = s.MaxOpenFiles,
            InstanceList = Rows(app).ToList(),
            RecentExits = exits,
            ReloadPolicy = s.Reload,
            Reloads = app.Reloads.Stories,
            LogDroppedLines = app.Out.DroppedLines + app.Err.DroppedLines,
            LogProblem = app.Out.Problem ?? app.Err.Problem,
            Captures = Captures(app),
        };
    }

    /// <summary>Every instance's kept exits, newest first.</summary>
    private static IEnumerable<RecentExit> RecentExits(AppRuntime app) => app.Instances
        .SelectMany(i => i.History.Select(h => new RecentExit(i.Index, h.Exit.Code, h.Exit.Signal, h.Exit.Reason, h.Exit.At,
            h.Delay is { } d ? (long)d.TotalMilliseconds : null) { Cause = h.Cause, Evidence = h.Evidence, Before = h.Before }))
        .OrderByDescending(e => e.At);

    /// <summary>`nk why`: the diagnosis of an app's recent exits and of what its instances show now.</summary>
    public WhyReport Why(AppRuntime app) =>
        Core.Diagnosis.Why.Build(app.Spec, RecentExits(app).ToList(), Status([app]), ctx.Clock.GetUtcNow(), app.Reloads.Stories, Captures(app));

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
