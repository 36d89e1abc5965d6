using System.Text.Json.Serialization;

namespace NodeKeeper.Core.Config;

/// <summary>When an app's process is started again after it exits.</summary>
public enum RestartMode { Always, OnFailure, Never }

/// <summary>How instances of an app share its port.</summary>
public enum PortMode { Shared, Increment }

/// <summary>When an instance counts as online.</summary>
public enum ReadyMode { Listen, Message, Spawn, Health }

/// <summary>What becomes of an instance not ready within listen_timeout: killed as a failed start (NodeKeeper's default),
/// or counted online all the same (PM2's meaning of listen_timeout).</summary>
public enum NotReadyAction { Kill, Online }

/// <summary>
/// An HTTP health probe, and the watch on each instance's event loop that comes with it: no report from the preload
/// for timeout × failures, or (with max_lag, a NodeKeeper extension) a p99 delay above max_lag in `failures` reports
/// in a row, is a failed check of that instance.
/// </summary>
public sealed record HealthSpec(string Url, TimeSpan Interval, TimeSpan Timeout, int Failures, TimeSpan? MaxLag = null);

/// <summary>
/// How a reload guards against a bad version (NodeKeeper extension, the `reload` table): a canary that runs beside the
/// old instances for <paramref name="Canary"/> first (zero: none), and a watch of <paramref name="Watch"/> after the
/// cut-over (zero: none) that rolls back by itself. A new version is worse (ReloadVerdict) when it failed at least
/// <paramref name="MinFailed"/> responses (5xx or incomplete) and its failed ratio is above the old one's by more than
/// <paramref name="MaxFailedIncrease"/>, significantly.
/// </summary>
public sealed record ReloadSpec(TimeSpan Canary, TimeSpan Watch, int MinFailed, double MaxFailedIncrease)
{
    public static readonly ReloadSpec Default = new(TimeSpan.Zero, TimeSpan.FromSeconds(60), 5, 0.01);
}

/// <summary>When the daemon takes heap snapshots of an instance whose heap keeps growing, by itself.</summary>
public enum HeapCapture
{
    /// <summary>Only for an app of two instances or more: a snapshot pauses the instance, and the others serve meanwhile.</summary>
    Auto,
    /// <summary>For every app, one instance alone included (its requests wait while the snapshot is taken).</summary>
    Always,
    /// <summary>Never by itself; `nk heap` and `nk profile --heap` still take them when asked.</summary>
    Never,
}

/// <summary>When an instance's stall watchdog (a thread of its own, about 9 MiB and 50 ms of CPU to start) begins.</summary>
public enum WatchdogStart
{
    /// <summary>After the first event-loop delay of `capture.stall` or more (seen once the loop runs again): that stall is
    /// told, not profiled; every later one is. An app that never stalls never pays for the thread.</summary>
    OnLag,
    /// <summary>A second after the event loop first turns: even the first stall is profiled.</summary>
    Always,
}

/// <summary>
/// The evidence NodeKeeper captures by itself (NodeKeeper extension, the `capture` table): a CPU profile of an event
/// loop blocked for longer than <paramref name="Stall"/> (zero: no watchdog; <paramref name="Watchdog"/>: from when), for
/// at most <paramref name="Cpu"/>; two
/// heap snapshots <paramref name="HeapGap"/> apart when the heap keeps growing (<paramref name="Heap"/>), only while the
/// heap is under <paramref name="MaxHeap"/>; at most one automatic capture of each kind per instance per
/// <paramref name="Interval"/>; Node's diagnostic report of a crash (<paramref name="Reports"/>). The app's folder of
/// captures keeps at most <paramref name="Keep"/> captures and <paramref name="MaxSize"/> bytes, the oldest going first.
/// </summary>
public sealed record CaptureSpec(TimeSpan Stall, TimeSpan Cpu, TimeSpan Interval, HeapCapture Heap, TimeSpan HeapGap, long MaxHeap,
    int Keep, long MaxSize, bool Reports, WatchdogStart Watchdog = WatchdogStart.OnLag)
{
    public static readonly CaptureSpec Default = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3), TimeSpan.FromMinutes(10),
        HeapCapture.Auto, TimeSpan.FromSeconds(60), 512L << 20, 20, 1L << 30, true, WatchdogStart.OnLag);
}

/// <summary>How an app's log lines are written: as the app prints them (with the optional time and [i]), or one JSON
/// object per line for log shippers, as PM2's log_type: 'json' writes them.</summary>
public enum LogFormat { Text, Json }

/// <summary>Where an app's output goes and how it is rotated. Paths are absolute.</summary>
public sealed record LogSpec(string Out, string Err, long MaxSize, int Keep, bool Timestamps, LogFormat Format = LogFormat.Text);

/// <summary>One validated [[app]] of nodekeeper.toml, with defaults applied and paths made absolute.</summary>
public sealed record AppSpec
{
    public required string Name { get; init; }
    /// <summary>Absolute path of the script; with interpreter = "none" a bare name stays as written (looked up on PATH).</summary>
    public required string Script { get; init; }
    /// <summary>Absolute working directory.</summary>
    public required string Cwd { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    public IReadOnlyList<string> NodeArgs { get; init; } = [];
    public string Interpreter { get; init; } = AppDefaults.Interpreter;
    /// <summary>Arguments of an interpreter other than node, before the script (node's are NodeArgs).</summary>
    public IReadOnlyList<string> InterpreterArgs { get; init; } = [];
    /// <summary>What runs the script: node gets the preload and the features that need it; other programs do not.</summary>
    [JsonIgnore]
    public ProgramKind Program => Programs.Of(Interpreter);
    /// <summary>The app runs on node, with the preload.</summary>
    [JsonIgnore]
    public bool Node => Program == ProgramKind.Node;
    /// <summary>--max-old-space-size in MiB, when set.</summary>
    public int? MaxOldSpaceSizeMb { get; init; }
    /// <summary>The `env` table as written (these win over the env file).</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    /// <summary>The env_NAME tables (environment profiles, as PM2's env_production), by NAME.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> EnvProfiles { get; init; } = new Dictionary<string, IReadOnlyDictionary<string, string>>();
    /// <summary>The profile chosen with `nk start --env NAME`, merged over env; null: none.</summary>
    public string? EnvProfile { get; init; }
    /// <summary>Absolute path of the dotenv file, when set.</summary>
    public string? EnvFile { get; init; }
    /// <summary>The variables read from EnvFile when the config was loaded.</summary>
    public IReadOnlyDictionary<string, string> EnvFromFile { get; init; } = new Dictionary<string, string>();
    public int Instances { get; init; } = AppDefaults.Instances;
    public int? Port { get; init; }
    public PortMode PortMode { get; init; } = AppDefaults.PortMode;
    public ReadyMode Ready { get; init; } = AppDefaults.Ready(hasPort: false);
    public TimeSpan ListenTimeout { get; init; } = AppDefaults.ListenTimeout;
    public NotReadyAction NotReady { get; init; } = AppDefaults.NotReady;
    public RestartMode Restart { get; init; } = AppDefaults.Restart;
    public IReadOnlyList<int> StopExitCodes { get; init; } = AppDefaults.StopExitCodes;
    public TimeSpan MinUptime { get; init; } = AppDefaults.MinUptime;
    public int MaxRestarts { get; init; } = AppDefaults.MaxRestarts;
    public TimeSpan RestartDelay { get; init; } = AppDefaults.RestartDelay;
    public TimeSpan MaxRestartDelay { get; init; } = AppDefaults.MaxRestartDelay;
    /// <summary>cron_restart: a cron expression (5 fields, or 6 with seconds first), in the daemon's local time zone.</summary>
    public string? CronRestart { get; init; }
    /// <summary>The least wait before every automatic restart, after a stable run too (PM2's restart_delay); zero: none.</summary>
    public TimeSpan FixedRestartDelay { get; init; }
    /// <summary>Signal name, e.g. "SIGTERM".</summary>
    public string KillSignal { get; init; } = AppDefaults.KillSignal;
    public TimeSpan KillTimeout { get; init; } = AppDefaults.KillTimeout;
    /// <summary>
    /// How long a retiring shared-port instance may take to finish its requests and let its keep-alive connections go
    /// before kill_signal (NodeKeeper extension).
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = AppDefaults.DrainTimeout;
    /// <summary>True when the daemon owns the app's port: its instances drain before kill_signal.</summary>
    [JsonIgnore]
    public bool SharesPort => Port is not null && PortMode == PortMode.Shared;
    /// <summary>The most a stop of one instance takes: the drain (shared port), then kill_timeout until SIGKILL.</summary>
    [JsonIgnore]
    public TimeSpan StopTimeout => (SharesPort ? DrainTimeout : TimeSpan.Zero) + KillTimeout;
    /// <summary>Resident memory limit of the instance's process tree, in bytes.</summary>
    public long? MaxMemory { get; init; }
    public int? MaxOpenFiles { get; init; }
    public HealthSpec? Health { get; init; }
    public ReloadSpec Reload { get; init; } = ReloadSpec.Default;
    public CaptureSpec Capture { get; init; } = CaptureSpec.Default;
    /// <summary>Absolute paths to watch; empty when watching is off.</summary>
    public IReadOnlyList<string> Watch { get; init; } = [];
    public IReadOnlyList<string> IgnoreWatch { get; init; } = [];
    public string? User { get; init; }
    /// <summary>Start from a clean environment (PATH, locale, time zone and the user's identity), not the daemon's;
    /// always so for a `user` app.</summary>
    public bool CleanEnv { get; init; }
    /// <summary>The preload counts the app's HTTP responses (NodeKeeper extension; on unless false).</summary>
    public bool HttpMetrics { get; init; } = true;
    /// <summary>Where the daemon binds a shared port (NodeKeeper extension); null: every interface, as node's listen(PORT).</summary>
    public string? Host { get; init; }
    public required LogSpec Log { get; init; }

    /// <summary>The environment an instance gets from the config: env file first, then env, then the chosen profile.</summary>
    public IReadOnlyDictionary<string, string> MergedEnv()
    {
        var merged = new Dictionary<string, string>(EnvFromFile);
        foreach (var (k, v) in Env) merged[k] = v;
        if (EnvProfile is { } p && EnvProfiles.TryGetValue(p, out var profile))
            foreach (var (k, v) in profile) merged[k] = v;
        return merged;
    }
}

/// <summary>The [daemon] table.</summary>
public sealed record DaemonSpec(string? Http);

/// <summary>A whole validated nodekeeper.toml.</summary>
public sealed record NodeKeeperConfig(string Path, DaemonSpec Daemon, IReadOnlyList<AppSpec> Apps);

/// <summary>A user-caused configuration error, with its 1-based position.</summary>
public sealed record ConfigError(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}

/// <summary>What loading needs from the world, passed in so the loader stays pure.</summary>
/// <param name="LogDirectory">Default folder of app logs ($NODEKEEPER_HOME/logs).</param>
/// <param name="CpuCount">What instances = "max" becomes.</param>
/// <param name="ReadFile">Reads a file (env_file); null, or an IOException that says why, when it cannot be read.</param>
public sealed record LoadContext(string LogDirectory, int CpuCount, Func<string, string?> ReadFile);

/// <summary>The outcome of loading: a config, or the errors that prevent one.</summary>
public sealed record ConfigResult(NodeKeeperConfig? Config, IReadOnlyList<ConfigError> Errors)
{
    /// <summary>The most error lines printed: a list of 10,000 wrong items is one mistake made 10,000 times.</summary>
    public const int MaxShown = 20;

    public bool Ok => Config is not null && Errors.Count == 0;

    /// <summary>The errors as printed: the first <see cref="MaxShown"/>, then one line saying how many more there are.</summary>
    public IEnumerable<string> ErrorLines()
    {
        foreach (var e in Errors.Take(MaxShown)) yield return e.ToString();
        if (Errors.Count > MaxShown) yield return $"… and {Errors.Count - MaxShown} more errors (fix these first)";
    }
}
