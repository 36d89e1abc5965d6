using System.Net.Sockets;
using NodeKeeper.Core.Config;
using NodeKeeper.Daemon.Listeners;
using NodeKeeper.Daemon.Logs;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>One app under supervision: its definition, its instances and its two log files.</summary>
public sealed class AppRuntime : IAsyncDisposable
{
    private readonly DaemonContext _ctx;
    /// <summary>
    /// Replaced whole, never changed in place: the sampler, the health monitor, the file watcher and status walk it on
    /// their own threads while a reload swaps or a scale resizes (a list changed under a walk threw, and the sampler's
    /// throw ended the daemon).
    /// </summary>
    private InstanceRunner[] _instances = [];

    public AppRuntime(AppSpec spec, string? configPath, DaemonContext ctx) : this(spec, configPath, ctx, adopting: false) { }

    private AppRuntime(AppSpec spec, string? configPath, DaemonContext ctx, bool adopting)
    {
        _ctx = ctx;
        Spec = spec;
        ConfigPath = configPath;
        (Out, Err) = OpenLogs(spec);
        if (!adopting) Resize(spec.Instances);
    }

    /// <summary>
    /// `nk update`: the app as the previous daemon image handed it over, its listening socket held and its instances
    /// running on (their logs appended to, from where the previous image stopped).
    /// </summary>
    public static AppRuntime Adopt(HandedApp handed, DaemonContext ctx)
    {
        var app = new AppRuntime(handed.Spec, handed.ConfigPath, ctx, adopting: true) { Wanted = handed.Wanted, WatchProblem = handed.WatchProblem };
        if (handed.ListenerFd is { } fd) app._listener = SharedListener.Adopt(fd, handed.Spec.Port!.Value, handed.Spec.Host);
        var runners = new List<InstanceRunner>();
        foreach (var h in handed.Instances.OrderBy(i => i.Index))
        {
            var r = new InstanceRunner(app, h.Index, ctx);
            r.Adopt(h);
            runners.Add(r);
        }
        app._instances = [.. runners];
        return app;
    }

    /// <summary>The shared listening socket's fd, while the app holds one (`nk update` hands it on).</summary>
    public int? ListenerFd { get { lock (_listenerLock) return _listener?.Fd; } }

    private (LogFile Out, LogFile Err) OpenLogs(AppSpec spec)
    {
        var output = new LogFile(spec.Log.Out, spec.Log.MaxSize, spec.Log.Keep, _ctx.Logger);
        var errors = new LogFile(spec.Log.Err, spec.Log.MaxSize, spec.Log.Keep, _ctx.Logger);
        if (_ctx.Mirror is { } mirror)
        {
            output.Mirror = data => mirror.Write(spec.Name, false, data);
            errors.Mirror = data => mirror.Write(spec.Name, true, data);
        }
        return (output, errors);
    }

    public string Name => Spec.Name;
    public AppSpec Spec { get; private set; }
    public string? ConfigPath { get; private set; }
    public LogFile Out { get; private set; }
    public LogFile Err { get; private set; }
    /// <summary>The instances now: a snapshot, which later changes leave as it is.</summary>
    public IReadOnlyList<InstanceRunner> Instances => Volatile.Read(ref _instances);
    /// <summary>
    /// A reload's first replacement while it runs beside the old instances as a canary (null otherwise): sampled,
    /// health-checked and shown in status (role "canary"), not yet one of <see cref="Instances"/>.
    /// </summary>
    public InstanceRunner? Canary { get; set; }
    /// <summary>The instances and the canary: what the sampler and the health monitor look at.</summary>
    public IEnumerable<InstanceRunner> Watched => Canary is { } c ? [.. Instances, c] : Instances;
    /// <summary>The app's reloads: the one in progress or being watched, the last outcomes and the definition before.</summary>
    public ReloadTrack Reloads { get; } = new();
    /// <summary>Whether the user wants the app running (false after nk stop); kept in the state file and the dump.</summary>
    public bool Wanted { get; set; } = true;
    /// <summary>Why file watching does not work for this app (inotify limits), shown in status and nk why; null when fine.</summary>
    public string? WatchProblem { get; set; }

    private readonly Lock _listenerLock = new();
    private SharedListener? _listener;

    /// <summary>True when the daemon owns the app's port and its instances accept on the daemon's socket.</summary>
    public bool SharesPort => Spec.SharesPort;

    /// <summary>
    /// Set while the app's instances stop for good and its port is let go (nk stop, delete, daemon shutdown): nothing
    /// will take their keep-alive connections, so draining instances close the idle ones at once. Cleared by a launch.
    /// </summary>
    public bool ReleasingPort { get; set; }

    /// <summary>The app's shared listening socket, bound on first use and then held across restarts.</summary>
    public (SharedListener? Listener, string? Error) AcquireListener()
    {
        ReleasingPort = false;
        lock (_listenerLock)
        {
            if (_listener is not null && _listener.Port == Spec.Port && _listener.Host == Spec.Host) return (_listener, null);
            _listener?.Dispose();
            _listener = null;
            var port = Spec.Port!.Value;
            var (listener, error) = SharedListener.Bind(port, Spec.Host);
            if (listener is not null) return (_listener = listener, null);
            return (null, error == SocketError.AddressAlreadyInUse
                ? $"port {port} is taken{PortOwner.Describe(port)}: stop that process or change `port` in {ConfigPath ?? "the config"}"
                : $"cannot listen on port {port}: {error}");
        }
    }

    /// <summary>Lets go of the port (the app was stopped or deleted, or its port changed).</summary>
    public void ReleaseListener()
    {
        lock (_listenerLock)
        {
            _listener?.Dispose();
            _listener = null;
        }
    }

    /// <summary>Adds instances up to n (they start stopped); returns those removed when shrinking.</summary>
    private List<InstanceRunner> Resize(int n)
    {
        var now = _instances;
        var next = now.Take(n).ToList();
        while (next.Count < n)
        {
            var r = new InstanceRunner(this, next.Count, _ctx);
            next.Add(r);
            r.Run();
        }
        Volatile.Write(ref _instances, [.. next]);
        return now.Skip(n).ToList();
    }

    /// <summary>A runner for slot <paramref name="index"/> that will take over from <paramref name="old"/> (reload); not listed yet.</summary>
    public InstanceRunner Replacement(int index, InstanceRunner old)
    {
        var r = new InstanceRunner(this, index, _ctx, old);
        r.Run();
        return r;
    }

    /// <summary>Puts a reload's replacement in its slot.</summary>
    public void Swap(int index, InstanceRunner replacement)
    {
        var next = (InstanceRunner[])_instances.Clone();
        next[index] = replacement;
        Volatile.Write(ref _instances, next);
    }

    /// <summary>Takes a new definition while instances keep running (reload); the number of instances is changed by Scale.</summary>
    public void Adopt(AppSpec spec, string? configPath)
    {
        Spec = spec with { Instances = _instances.Length };
        ConfigPath = configPath ?? ConfigPath;
    }

    /// <summary>Grows to n instances (the new ones are stopped) or removes those above n (the caller stops them first).</summary>
    public (List<InstanceRunner> Added, List<InstanceRunner> Removed) Scale(int n)
    {
        var before = _instances.Length;
        var removed = Resize(n);
        Spec = Spec with { Instances = n };
        return (_instances.Skip(before).ToList(), removed);
    }

    /// <summary>Takes a new definition while the app is stopped (log files reopened if their paths changed).</summary>
    public async Task<List<InstanceRunner>> RedefineAsync(AppSpec spec, string? configPath)
    {
        if (spec.Log != Spec.Log)
        {
            await Out.DisposeAsync();
            await Err.DisposeAsync();
            (Out, Err) = OpenLogs(spec);
        }
        Spec = spec;
        ConfigPath = configPath;
        return Resize(spec.Instances);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var i in _instances) await i.DisposeAsync();
        ReleaseListener();
        await Out.DisposeAsync();
        await Err.DisposeAsync();
    }
}
