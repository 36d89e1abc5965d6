using System.Text.Json.Serialization;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Protocol;

/// <summary>The commands the control socket understands.</summary>
public static class Commands
{
    public const string Ping = "ping";
    public const string Version = "version";
    public const string Start = "start";          // Apps: load/reconcile a config; Names: start stopped apps
    public const string Stop = "stop";
    public const string Restart = "restart";
    public const string Delete = "delete";
    public const string Status = "status";
    public const string Describe = "describe";
    public const string Kill = "kill";
    public const string Reload = "reload";        // Names, optional Apps (new definitions)
    public const string Scale = "scale";          // Names (one), Count
    public const string Why = "why";              // Names
    public const string Save = "save";            // Force
    public const string Resurrect = "resurrect";
    public const string Update = "update";        // Path: the daemon replaces itself with that binary, apps untouched
    public const string Rollback = "rollback";    // Names: back to each app's definition before its last reload
    public const string Profile = "profile";      // Names (one), Instance, CpuMs and/or Heap: captures now
    public const string Heap = "heap";            // Names (one), Instance, GapMs: two heap snapshots, and which constructors grew
    public const string Signal = "signal";        // Names, Signal, optional Instance: sends it to the instances' processes (PM2's sendSignal)
    public const string Flush = "flush";          // Names: empties the apps' log files (PM2's flush)
    public const string ReopenLogs = "reopen-logs"; // reopens every app's log files, as SIGHUP/SIGUSR1/SIGUSR2 do (PM2's reloadLogs)
    public const string Reset = "reset";          // Names: restarts and unstable runs back to 0 (PM2's reset)
}

/// <summary>One request line on the control socket.</summary>
public sealed record Request
{
    /// <summary>The longest request line a daemon reads (1 MiB): a config's apps must fit in one.</summary>
    public const int MaxLineBytes = 1 << 20;

    public int Id { get; init; }
    public string Cmd { get; init; } = "";
    /// <summary>App names, or ["all"].</summary>
    public IReadOnlyList<string>? Names { get; init; }
    /// <summary>With start: the validated apps of a config file.</summary>
    public IReadOnlyList<AppSpec>? Apps { get; init; }
    public string? ConfigPath { get; init; }
    public bool Prune { get; init; }
    public bool ShowEnv { get; init; }
    /// <summary>With scale: the number of instances.</summary>
    public int? Count { get; init; }
    /// <summary>With start of a config: its [daemon] table.</summary>
    public DaemonSpec? Daemon { get; init; }
    /// <summary>With save: write even when it replaces a non-empty dump with an empty one.</summary>
    public bool Force { get; init; }
    /// <summary>
    /// With start, restart, reload, scale and resurrect: answer once every touched instance has settled (ready or
    /// failed), or after this many milliseconds, with Failures and every instance's status. Null: answer at once.
    /// </summary>
    public int? WaitMs { get; init; }
    /// <summary>
    /// With reload and no Apps: the daemon reads each app's definition again from the config file it came from (each
    /// file once), as `nk reload` asks; a file it cannot read or that is wrong fails the request with ConfigErrors.
    /// </summary>
    public bool Reread { get; init; }
    /// <summary>With update: the nk-full to exec (default: the one the daemon was started from).</summary>
    public string? Path { get; init; }
    /// <summary>With reload: run the first new instance as a canary for this many milliseconds (0: none), whatever the app's reload.canary says.</summary>
    public long? CanaryMs { get; init; }
    /// <summary>With profile and heap: the instance (default 0).</summary>
    public int? Instance { get; init; }
    /// <summary>With signal: the signal's name ("SIGUSR2", "usr2", "12").</summary>
    public string? Signal { get; init; }
    /// <summary>With profile: a CPU profile of this many milliseconds.</summary>
    public long? CpuMs { get; init; }
    /// <summary>With profile: a heap snapshot.</summary>
    public bool Heap { get; init; }
    /// <summary>With heap: the time between the two snapshots (default: the app's capture.heap_gap).</summary>
    public long? GapMs { get; init; }

    /// <summary>
    /// Fields this build does not know, kept as they came: a daemon answers with their names (IgnoredFields), so a newer
    /// client hears what an older daemon did not act on.
    /// </summary>
    [JsonExtensionData]
    public Dictionary<string, System.Text.Json.JsonElement>? Unknown { get; set; }
}

/// <summary>One response line; Ok=false carries Error (what went wrong and what to do).</summary>
public sealed record Response
{
    public int Id { get; init; }
    public bool Ok { get; init; }
    public string? Error { get; init; }
    public string? Message { get; init; }
    public IReadOnlyList<InstanceInfo>? Instances { get; init; }
    public AppDescription? App { get; init; }
    /// <summary>With start/restart: what each touched instance had launched before, so clients can wait for the next launch.</summary>
    public IReadOnlyList<Touched>? Touched { get; init; }
    public string? Version { get; init; }
    public int? Pid { get; init; }
    /// <summary>With why: one diagnosis per app.</summary>
    public IReadOnlyList<WhyReport>? Why { get; init; }
    /// <summary>profile and heap: what was captured.</summary>
    public IReadOnlyList<CaptureInfo>? Captures { get; init; }
    /// <summary>With wait_ms: each touched instance that did not become ready, "NAME:INDEX is …" (empty when all did).</summary>
    public IReadOnlyList<string>? Failures { get; init; }
    /// <summary>With describe: every app named (or all), for clients that need several at once.</summary>
    public IReadOnlyList<AppDescription>? Apps { get; init; }
    /// <summary>With reload and reread: what is wrong in a config file, a line each (file:line:col), as `nk start` prints it.</summary>
    public IReadOnlyList<string>? ConfigErrors { get; init; }
    /// <summary>Fields of the request this daemon does not know and therefore ignored (a client newer than the daemon).</summary>
    public IReadOnlyList<string>? IgnoredFields { get; init; }
    /// <summary>With update: the version the daemon ran before (Version, on every answer, is the one it runs now).</summary>
    public string? PreviousVersion { get; init; }
    /// <summary>
    /// With status and update: what the operator must know of the daemon itself, such as an update whose new image
    /// could not adopt the apps and restarted them. Null when nothing.
    /// </summary>
    public string? DaemonNotice { get; init; }

    public static Response Fail(int id, string error) => new() { Id = id, Ok = false, Error = error };
}

/// <summary>An instance a command acted on, with its launch count before the command.</summary>
public sealed record Touched(string Name, int Instance, int StartsBefore);

/// <summary>`last_exit` of an instance.</summary>
public sealed record LastExit(int? Code, string? Signal, string Reason, DateTimeOffset At);

/// <summary>One row of `nk status --json`.</summary>
public sealed record InstanceInfo
{
    public required string Name { get; init; }
    public int Instance { get; init; }
    public int? Pid { get; init; }
    public required string Status { get; init; }
    public int Restarts { get; init; }
    public long UptimeMs { get; init; }
    public double? CpuPercent { get; init; }
    public long? MemoryBytes { get; init; }
    public long? HeapUsedBytes { get; init; }
    public double? EventLoopLagMs { get; init; }
    /// <summary>V8 heap size and its limit (max_old_space_size or node's default), from the preload (NodeKeeper extension).</summary>
    public long? HeapTotalBytes { get; init; }
    public long? HeapLimitBytes { get; init; }
    /// <summary>Median event-loop delay over the last report interval (NodeKeeper extension).</summary>
    public double? EventLoopP50Ms { get; init; }
    /// <summary>Active handles and requests keeping the event loop alive (NodeKeeper extension).</summary>
    public int? ActiveHandles { get; init; }
    /// <summary>Resident memory growth in MiB per minute while a steady upward trend (a leak) is seen; null otherwise (NodeKeeper extension).</summary>
    public double? MemoryGrowthMbPerMin { get; init; }
    /// <summary>What needs the operator's eye now: open files near the limit, memory growth, a lagging event loop (NodeKeeper extension).</summary>
    public List<string>? Warnings { get; init; }
    /// <summary>The kind of each warning, in the same order (open_files, memory_growth, heap_near_limit, heap_growth,
    /// event_loop, watch, stalled): readers pick a warning by kind, never by its wording (NodeKeeper extension).</summary>
    public List<string>? WarningKinds { get; init; }
    public int? OpenFiles { get; init; }
    public int? MaxOpenFiles { get; init; }
    /// <summary>HTTP responses of the running process by class, and its latest latency percentiles (NodeKeeper extension).</summary>
    public HttpOutcomes? Http { get; init; }
    /// <summary>HTTP responses a second over the last report interval (NodeKeeper extension).</summary>
    public double? RequestsPerSecond { get; init; }
    /// <summary>"canary" for a reload's first new instance while it runs beside the old ones; null otherwise (NodeKeeper extension).</summary>
    public string? Role { get; init; }
    /// <summary>The app's reload in progress (canary, watching) and how its last one ended; null when it was never reloaded (NodeKeeper extension).</summary>
    public ReloadInfo? Reload { get; init; }
    public int? Port { get; init; }
    /// <summary>"shared" or "increment" when the app has a port (NodeKeeper extension).</summary>
    public string? PortMode { get; init; }
    /// <summary>What runs the app (NodeKeeper extension): "node" (with the preload and every node-only figure), another
    /// interpreter's name ("python3"), or "none" (the script is the program).</summary>
    public string Program { get; init; } = Config.AppDefaults.Interpreter;
    /// <summary>True once the instance counts as ready (online) (NodeKeeper extension).</summary>
    public bool Ready { get; init; }
    public LastExit? LastExit { get; init; }
    /// <summary>Processes launched so far (NodeKeeper extension).</summary>
    public int Starts { get; init; }
    /// <summary>Unstable runs in a row (NodeKeeper extension).</summary>
    public int UnstableRuns { get; init; }
    /// <summary>Milliseconds until the next start while in backoff (NodeKeeper extension).</summary>
    public long? BackoffMs { get; init; }
}

/// <summary>`nk describe`: an app's definition (env values hidden unless asked) and its instances.</summary>
public sealed record AppDescription
{
    public required string Name { get; init; }
    public required string Script { get; init; }
    public required string Cwd { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    public IReadOnlyList<string> NodeArgs { get; init; } = [];
    public required string Interpreter { get; init; }
    /// <summary>Arguments of an interpreter other than node (NodeKeeper extension).</summary>
    public IReadOnlyList<string> InterpreterArgs { get; init; } = [];
    public int Instances { get; init; }
    public int? Port { get; init; }
    public string PortMode { get; init; } = Config.PortMode.Shared.Word();
    /// <summary>The address a shared port is bound on; null for every interface (NodeKeeper extension `host`).</summary>
    public string? Host { get; init; }
    public string Ready { get; init; } = ReadyMode.Spawn.Word();
    public string Restart { get; init; } = RestartMode.Always.Word();
    public string? ConfigPath { get; init; }
    public string? EnvFile { get; init; }
    /// <summary>Variable names always; values only with --show-env.</summary>
    public IReadOnlyDictionary<string, string?> Env { get; init; } = new Dictionary<string, string?>();
    public string? OutLog { get; init; }
    public string? ErrLog { get; init; }
    public long? MaxMemory { get; init; }
    public int? MaxOpenFiles { get; init; }
    public required IReadOnlyList<InstanceInfo> InstanceList { get; init; }
    /// <summary>The most recent exits of every instance, newest first.</summary>
    public IReadOnlyList<RecentExit> RecentExits { get; init; } = [];
    public long LogDroppedLines { get; init; }
    /// <summary>Why the app's log files cannot be written now ("cannot write PATH: REASON"); null when they can.</summary>
    public string? LogProblem { get; init; }
    /// <summary>The app's reload guard (NodeKeeper extension): canary and watch durations, and what counts as worse.</summary>
    public ReloadSpec? ReloadPolicy { get; init; }
    /// <summary>The evidence captured for this app (crash reports, CPU profiles, heap snapshots and their comparisons), newest first.</summary>
    public IReadOnlyList<CaptureInfo> Captures { get; init; } = [];
    /// <summary>How the app's last reloads ended, oldest first (NodeKeeper extension).</summary>
    public IReadOnlyList<NodeKeeper.Core.Supervision.ReloadStory> Reloads { get; init; } = [];
}

/// <summary>An exit in an app's history, with the backoff delay chosen after it (null when not restarted after a delay).</summary>
public sealed record RecentExit(int Instance, int? Code, string? Signal, string Reason, DateTimeOffset At, long? RestartDelayMs)
{
    /// <summary>A finer kind of the reason (uncaught-exception, headers-sent, fork-eagain, …), when known.</summary>
    public string? Cause { get; init; }
    /// <summary>The lines that show the cause: stderr's error message and first frames, the failed probe, the limit crossed.</summary>
    public IReadOnlyList<string> Evidence { get; init; } = [];
    /// <summary>The instance's last metrics before it ended.</summary>
    public MetricsBefore? Before { get; init; }
}

/// <summary>An instance's last figures before an exit: what it looked like as it went.</summary>
public sealed record MetricsBefore(long? MemoryBytes, double? MemoryGrowthMbPerMin, long? HeapUsedBytes, long? HeapLimitBytes,
    double? EventLoopLagMs, int? OpenFiles, int? MaxOpenFiles);

/// <summary>`nk why NAME`: what happened to an app, shown by what, how often, and what to change.</summary>
public sealed record WhyReport(string Name, string Status, IReadOnlyList<WhyFinding> Findings);

/// <summary>
/// One cause: Reason is an exit reason (oom_heap, crash, …) or, for what is happening now, one of
/// memory_growth, heap_near_limit, open_files, event_loop; Count is how many recent exits had it.
/// </summary>
public sealed record WhyFinding(string Reason, string? Cause, string Summary, int Count, DateTimeOffset? LastAt,
    IReadOnlyList<string> Evidence, string Remedy);

/// <summary>
/// An app's reloads as status shows them: Phase "canary" (the first new instance runs beside the old ones until Until)
/// or "watching" (the new version is watched until Until, and rolled back if it fails), null when none is in progress;
/// Last how the last one ended: "reloaded", "canary_failed", "not_ready", "rolled_back" (by the watch) or "rollback"
/// (nk rollback), with when and why.
/// </summary>
public sealed record ReloadInfo(string? Phase, DateTimeOffset? Since, DateTimeOffset? Until, string? Last, DateTimeOffset? LastAt, string? LastSummary);

/// <summary>The preload's report over the IPC channel, every second (see preload.js, section 5).</summary>
public sealed record PreloadReport
{
    public long HeapUsed { get; init; }
    public long HeapTotal { get; init; }
    public long HeapLimit { get; init; }
    public double LagP50 { get; init; }
    public double LagP99 { get; init; }
    public double LagMax { get; init; }
    public int? Handles { get; init; }
    /// <summary>HTTP outcomes of the process (preload.js, section 6); null when the app turned the counting off.</summary>
    public HttpOutcomes? Http { get; init; }
}

/// <summary>
/// The HTTP responses of one instance's process since it started, by status class, counted by the preload with no app
/// change (NodeKeeper extension): incomplete ones closed before they were sent; P50/P99 are of the last report interval
/// (null when it had no response); Buckets counts responses by duration, one count per bound of
/// <see cref="BoundsMs"/> and a last one above them (not cumulative).
/// </summary>
public sealed record HttpOutcomes
{
    /// <summary>Upper bounds of the duration buckets, in milliseconds (the preload's BUCKETS_MS).</summary>
    public static readonly IReadOnlyList<double> BoundsMs = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    [JsonPropertyName("2xx")] public long Class2xx { get; init; }
    [JsonPropertyName("3xx")] public long Class3xx { get; init; }
    [JsonPropertyName("4xx")] public long Class4xx { get; init; }
    [JsonPropertyName("5xx")] public long Class5xx { get; init; }
    public long Incomplete { get; init; }
    [JsonPropertyName("p50_ms")] public double? P50Ms { get; init; }
    [JsonPropertyName("p99_ms")] public double? P99Ms { get; init; }
    public long[]? Buckets { get; init; }
    public double SumMs { get; init; }

    /// <summary>Every response counted: the four classes and the incomplete ones.</summary>
    [JsonIgnore]
    public long Total => Class2xx + Class3xx + Class4xx + Class5xx + Incomplete;

    /// <summary>Responses that failed the client: 5xx and incomplete.</summary>
    [JsonIgnore]
    public long Failed => Class5xx + Incomplete;
}

/// <summary>Source-generated JSON for every record that crosses the socket or is printed with --json.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    WriteIndented = false)]
[JsonSerializable(typeof(Request))]
[JsonSerializable(typeof(Response))]
[JsonSerializable(typeof(List<InstanceInfo>))]
[JsonSerializable(typeof(AppDescription))]
[JsonSerializable(typeof(PreloadReport))]
[JsonSerializable(typeof(List<WhyReport>))]
[JsonSerializable(typeof(CaptureNotice))]
[JsonSerializable(typeof(HeapGrowthRecord))]
public sealed partial class ProtocolJson : JsonSerializerContext;

/// <summary>
/// The rows of `nk status` alone, with <see cref="ProtocolJson"/>'s options: what `nk`'s fast path reads, so that the
/// small client links no metadata (nor code) of the rest of the protocol.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    WriteIndented = false)]
[JsonSerializable(typeof(List<InstanceInfo>))]
public sealed partial class StatusJson : JsonSerializerContext;

/// <summary>
/// One capture of an app's evidence, as nk describe, nk profile and nk heap show it. Kind: "report" (Node's diagnostic
/// report of a crash), "stall" (a blocked event loop: its stacks, and its CPU profile in Files), "cpu" (a CPU profile
/// asked for), "heap" (a heap snapshot), "growth" (two heap snapshots compared). Files are absolute paths; a
/// .cpuprofile and a .heapsnapshot open in Chrome DevTools as they are. Summary: what the daemon read in it.
/// </summary>
public sealed record CaptureInfo(string Kind, int Instance, int Pid, DateTimeOffset At, IReadOnlyList<string> Files, long Bytes)
{
    public IReadOnlyList<string> Summary { get; init; } = [];
    /// <summary>Why the daemon could not read it (a file cut short, not what its name says), when so.</summary>
    public string? Problem { get; init; }
}

/// <summary>The preload's word that a capture was written (its file name in the app's folder of captures) or failed.</summary>
public sealed record CaptureNotice
{
    public string? Nk { get; init; }
    /// <summary>The request's id; null for a capture the preload took by itself (a stall).</summary>
    public string? Id { get; init; }
    public string? Kind { get; init; }
    public string? File { get; init; }
    public string? Error { get; init; }
    /// <summary>What the preload tells without a capture: the first stall under capture.watchdog = "on_lag", seen
    /// before the watchdog ran (logged as information; a preload older than this field sent it as an error).</summary>
    public string? Note { get; init; }
    /// <summary>How long it took, in milliseconds.</summary>
    public long? Ms { get; init; }
}

/// <summary>Two heap snapshots of one instance compared (the "growth" capture's own file).</summary>
public sealed record HeapGrowthRecord(int Instance, int Pid, DateTimeOffset At, long GapMs, string Before, string After,
    long HeapBefore, long HeapAfter, IReadOnlyList<HeapGrowthLine> Grew);

/// <summary>A constructor (or V8 type, as "(string)") whose objects grew between two heap snapshots.</summary>
public sealed record HeapGrowthLine(string Class, long CountBefore, long CountAfter, long SizeBefore, long SizeAfter);
