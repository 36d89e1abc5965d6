using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.Supervision;

/// <summary>
/// Once a second, a pass over the instances' process trees in /proc: CPU, resident memory and open files of every instance's tree
/// (an idle one every 5 s),
/// the max_memory check, and reaping of orphans reparented to the daemon; and after a burst, memory given back (HeapTrim).
/// </summary>
public sealed class ProcessSampler(Supervisor supervisor, DaemonContext ctx) : BackgroundService
{
    /// <summary>How often max_memory is checked; the full metrics are taken every <see cref="FullEvery"/> ticks (once a second).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private const int FullEvery = 4;
    private static readonly long PageSize = Native.PageSize();
    private static readonly double TicksPerSecond = Native.ClockTicksPerSecond();
    private readonly Dictionary<ProcessId, (long Ticks, long At, long Rss, int? Files)> _previous = new();
    /// <summary>
    /// An instance whose process used (almost) no CPU and kept its memory and open files since its last sample is looked at again
    /// only after <see cref="QuietPasses"/> full passes (unless its app has a memory limit): an idle fleet costs the daemon
    /// a fifth of the reads and events, and a process that wakes up is seen within seconds.
    /// </summary>
    private const int QuietPasses = 10;
    /// <summary>
    /// The CPU share (percent of a core) up to which an instance counts as quiet: a clock tick (10 ms) in a second. An
    /// idle app under the preload uses about a millisecond a second (its report timer), so its ticks still move now and
    /// then; an exact match of ticks would keep most of an idle fleet sampled every second.
    /// </summary>
    private const double QuietCpu = 1.0;
    private readonly Dictionary<ProcessId, long> _quietUntil = new();
    private readonly Dictionary<ProcessId, int?> _limits = new();
    private const int ReapEveryTicks = 5 * FullEvery;
    private long _ticks;
    private readonly ProcFiles _files = new();
    private readonly HeapTrim _trim = new();
    private static readonly TimeSpan StartSettles = TimeSpan.FromSeconds(10);
    private readonly System.Diagnostics.Stopwatch _sinceStart = System.Diagnostics.Stopwatch.StartNew();
    private bool _startGivenBack;
    private long _lastAllocated;
    private readonly YoungCap _young = new();

    protected override Task ExecuteAsync(CancellationToken ct)
    {
        // A thread of its own that sleeps between passes: no timer and no thread-pool work, so an idle daemon's
        // thread pool (and its gate thread, which otherwise polls every 500 ms) stays asleep.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { Loop(ct); }
            finally { _files.Dispose(); done.TrySetResult(); }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "sampler" };
        thread.Start();
        return done.Task;
    }

    private void Loop(CancellationToken ct)
    {
        while (true)
        {
            // Once a second; four times a second only while some app has a memory limit to enforce.
            var fast = supervisor.Apps.Any(a => a.Spec.MaxMemory is not null);
            if (ct.WaitHandle.WaitOne(fast ? Interval : Interval * FullEvery)) return;
            if (!fast) _ticks += FullEvery - 1 - _ticks % FullEvery;
            try { SampleOnce(); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                ctx.Logger.LogWarning(ex, "sampling /proc failed");
            }
            // A bug of the daemon's must not end it (its apps would run on unsupervised): said, and sampling goes on.
            catch (Exception ex) { ctx.Logger.LogError(ex, "sampling failed"); }
            // Once a second, on this thread: after a burst, the memory it used goes back to the system (see HeapTrim),
            // and so do the pages of nk-full it ran (see ImagePages); those of the daemon's own start, at its first quiet
            // second 10 s after it (a start of a few apps allocates too little to count as a burst).
            if (_ticks % FullEvery == 0)
            {
                var allocated = GC.GetTotalAllocatedBytes();
                var trim = _trim.Observe(allocated);
                if (trim) GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                if (trim || (!_startGivenBack && _sinceStart.Elapsed >= StartSettles && allocated - _lastAllocated < _trim.QuietBelow))
                {
                    ImagePages.GiveBack();
                    _startGivenBack = true;
                }
                _lastAllocated = allocated;
                // A young collection every 2 MiB an idle daemon allocates keeps it within the same pages (see YoungCap).
                if (_young.Observe(GC.CollectionCount(0), allocated)) GC.Collect(0, GCCollectionMode.Forced, blocking: true);
            }
        }
    }

    /// <summary>One sampling pass: only the instances' own trees are read, never the whole of /proc.</summary>
    public void SampleOnce()
    {
        ++_ticks;
        if (_ticks % ReapEveryTicks == 0) OrphanReaper.ReapAll();
        var full = _ticks % FullEvery == 0;
        var now = ctx.Clock.GetTimestamp();
        var seen = new HashSet<ProcessId>();
        foreach (var app in supervisor.Apps)
        foreach (var instance in app.Watched)
        {
            // Between full samples only the instances with a memory limit are looked at, so a fast leak is caught early.
            if (!full && app.Spec.MaxMemory is null) continue;
            if (instance.Process is not { } root) continue;
            // A quiet instance is not even read (its end is heard through its exit, not here); its files stay open.
            if (full && app.Spec.MaxMemory is null && _quietUntil.TryGetValue(root, out var until) && _ticks < until)
            {
                seen.Add(root);
                _files.Keep(root.Pid);
                continue;
            }
            if (_files.Stat(root.Pid) is not { } rootStat || rootStat.StartTime != root.StartTime || rootStat.IsZombie)
                continue;
            seen.Add(root);
            var tree = ProcChildren.Tree(rootStat, _files);
            long ticks = 0, rss = 0;
            foreach (var st in tree) { ticks += st.UserTicks + st.SystemTicks; rss += st.RssPages * PageSize; }

            if (!full)
            {
                CheckMemory(app, instance, rss);
                continue;
            }
            double cpu = 0;
            if (_previous.TryGetValue(root, out var prev))
            {
                var seconds = ctx.Clock.GetElapsedTime(prev.At, now).TotalSeconds;
                if (seconds > 0) cpu = Math.Max(0, (ticks - prev.Ticks) / TicksPerSecond / seconds * 100);
            }
            var files = OpenFiles(root.Pid);
            var quiet = prev.At != 0 && cpu <= QuietCpu && Math.Abs(rss - prev.Rss) < 1 << 20 && files == prev.Files;
            if (quiet) _quietUntil[root] = _ticks + QuietPasses * FullEvery;
            else _quietUntil.Remove(root);
            _previous[root] = (ticks, now, rss, files);
            if (!_limits.TryGetValue(root, out var limit)) _limits[root] = limit = ReadOpenFilesLimit(root.Pid);
            var metrics = new InstanceMetrics(cpu, rss, files, limit);
            instance.UpdateMetrics(metrics, tree.Count > 1 ? tree.Select(t => new ProcessId(t.Pid, t.StartTime)) : [], root);

            CheckMemory(app, instance, rss);
        }
        if (full) _files.EndPass();
        if (full && _previous.Count != seen.Count)
            foreach (var gone in _previous.Keys.Where(k => !seen.Contains(k)).ToList()) { _previous.Remove(gone); _limits.Remove(gone); _quietUntil.Remove(gone); }
    }

    private void CheckMemory(AppRuntime app, InstanceRunner instance, long rss)
    {
        if (!MemoryLimit.Passed(app.Spec.MaxMemory, rss, instance.State.Status)) return;
        ctx.Logger.LogWarning("{App}:{Index} uses {Rss} bytes, over max_memory {Max}: restarting", app.Name, instance.Index, rss, app.Spec.MaxMemory);
        instance.Post(new RestartRequested(ExitReasons.MaxMemory, [MemoryLimit.Evidence(rss, app.Spec.MaxMemory!.Value)]));
    }

    private static int? OpenFiles(int pid)
    {
        var n = Native.StatSize($"/proc/{pid}/fd");
        if (n > 0) return (int)n;
        try { return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count(); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>The soft RLIMIT_NOFILE from /proc/PID/limits.</summary>
    public static int? ReadOpenFilesLimit(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
                var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length > 0 && int.TryParse(parts[0], out var soft) ? soft : null;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return null;
    }
}
