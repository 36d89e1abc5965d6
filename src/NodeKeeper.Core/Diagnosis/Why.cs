using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>
/// `nk why`: turns an app's recent exits (each with its reason, cause, evidence and last metrics) and what its running
/// instances show now into findings: the cause, the evidence, how often, and the remedy naming the key to change.
/// </summary>
public static class Why
{
    /// <summary>How the daemon's warning about file watching begins (FileWatchService).</summary>
    public const string WatchOff = "file watching is off";

    public static WhyReport Build(AppSpec spec, IReadOnlyList<RecentExit> exits, IReadOnlyList<InstanceInfo> instances, DateTimeOffset now,
        IReadOnlyList<ReloadStory>? reloads = null, IReadOnlyList<CaptureInfo>? captures = null)
    {
        var findings = new List<WhyFinding>();
        // A reload that was backed out is the first thing to know: the app runs the old version.
        if (reloads?.LastOrDefault() is { Failed: true } r)
            findings.Add(new WhyFinding(r.Outcome, r.Reason, r.Summary, reloads.Count(s => s.Failed), r.At, r.Evidence, ReloadRemedy(r, spec)));
        var groups = exits.Where(e => !ExitReasons.IsAsked(e.Reason))
            .GroupBy(e => (e.Reason, e.Cause))
            .Select(g => (Key: g.Key, Latest: g.MaxBy(e => e.At)!, Count: g.Count(), LastHour: g.Count(e => now - e.At <= TimeSpan.FromHours(1))))
            .OrderByDescending(g => g.Latest.At);
        foreach (var g in groups)
        {
            var e = g.Latest;
            var evidence = new List<string>(e.Evidence);
            evidence.AddRange(MetricLines(e.Reason, e.Before, spec));
            if (e.Code is { } c && e.Reason is not ExitReasons.Exit) evidence.Add($"exit code {c}");
            if (e.Signal is { } sig) evidence.Add($"ended by {sig}");
            var often = g.Count == 1 ? "once" : $"{g.Count} times";
            findings.Add(new WhyFinding(e.Reason, e.Cause,
                $"{Title(e.Reason, e.Cause, e.Code)}: {often} in the recent exits ({g.LastHour} in the last hour), last on instance {e.Instance}",
                g.Count, e.At, evidence, Remedy(e.Reason, e.Cause, spec, e.Before)));
        }
        findings.AddRange(Captured(captures ?? [], now));
        foreach (var i in instances.Where(i => i.Pid is not null)) findings.AddRange(Now(spec, i));
        // Problems of the app as a whole (file watching) show on each instance's warnings: one finding for them.
        foreach (var w in instances.SelectMany(i => Of(i, WarningKind.Watch)).Distinct())
            findings.Add(new WhyFinding(ExitReasons.Watch, null, "file watching does not work for this app", 0, null, [w],
                "Raise the kernel's inotify limits (sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512; persist them in /etc/sysctl.d/), or watch fewer files; the app keeps running meanwhile."));
        var status = string.Join(", ", instances.GroupBy(i => i.Status).Select(g => $"{g.Count()} {g.Key}"));
        return new WhyReport(spec.Name, status, findings);
    }

    /// <summary>Evidence captured by itself within the last day: the newest blocked event loop and the newest heap comparison.</summary>
    private static IEnumerable<WhyFinding> Captured(IReadOnlyList<CaptureInfo> captures, DateTimeOffset now)
    {
        var recent = captures.Where(c => now - c.At <= TimeSpan.FromDays(1) && c.Problem is null && c.Summary.Count > 0).ToList();
        var stalls = recent.Where(c => c.Kind == "stall").OrderByDescending(c => c.At).ToList();
        if (stalls.FirstOrDefault() is { } s)
            yield return new WhyFinding(BlockedReason, null,
                $"the event loop was blocked: {Often(stalls.Count)} in the captures of the last day, last on instance {s.Instance} (pid {s.Pid})",
                stalls.Count, s.At, [.. s.Summary, .. s.Files.Where(f => f.EndsWith(".cpuprofile", StringComparison.Ordinal)).Select(f => $"CPU profile: {f}")],
                "Synchronous work held the event loop, and every request waited meanwhile: the evidence names the function and the line. "
                + "Move that work to a worker thread (worker_threads), make it asynchronous, or split it into chunks (setImmediate between them). "
                + "The profile opens in Chrome DevTools (Performance tab, Load profile).");
        var growths = recent.Where(c => c.Kind == "growth").OrderByDescending(c => c.At).ToList();
        if (growths.FirstOrDefault() is { } g)
            yield return new WhyFinding(GrowthReason, null,
                $"the heap kept growing: two heap snapshots of instance {g.Instance} (pid {g.Pid}) compared",
                growths.Count, g.At, g.Summary,
                "What grew most is what is kept: find where those objects are stored and never let go (a cache or map without a limit, "
                + "an array or listener added to per request, a closure holding a request). Both snapshots are in nk describe; open them "
                + "in Chrome DevTools (Memory tab, Comparison) to see what retains them.");
    }

    /// <summary>The reasons of the findings made of captures (nk why --json).</summary>
    public const string BlockedReason = "event_loop_blocked";
    public const string GrowthReason = "heap_growth";

    private static string Often(int n) => n == 1 ? "once" : $"{n} times";

    private static string ReloadRemedy(ReloadStory r, AppSpec spec) => r.Outcome switch
    {
        ReloadStory.NotReady => $"The new version did not start: see nk logs {spec.Name} --err, fix it and reload again; the old version serves meanwhile.",
        _ => $"The new version was worse than the old one ({r.Reason?.Replace('_', ' ') ?? "see the evidence"}): fix it and reload again; the old version serves meanwhile. "
            + "What counts as worse is tuned in the app's reload table (min_failed, max_failed_increase); the logs of the new version are in "
            + $"nk logs {spec.Name}.",
    };

    /// <summary>What a running instance shows now that will end it if nothing changes.</summary>
    private static IEnumerable<WhyFinding> Now(AppSpec spec, InstanceInfo i)
    {
        var at = $"instance {i.Instance} (pid {i.Pid})";
        if (i.MemoryGrowthMbPerMin is { } rate)
            yield return new WhyFinding("memory_growth", null, $"memory keeps growing on {at}: {rate:0.#} MB/min", 0, null,
                [$"RSS {Mib(i.MemoryBytes)} and rising {rate:0.#} MB/min" + (Until(spec.MaxMemory, i.MemoryBytes, rate) is { } t ? $"; max_memory ({Mib(spec.MaxMemory)}) in about {t}" : "")],
                spec.MaxMemory is null
                    ? "A steady rise is a leak: set max_memory so NodeKeeper restarts it gracefully before the machine runs short, and take heap snapshots (node --heapsnapshot-signal=SIGUSR2) to find what is kept."
                    : "A steady rise is a leak: it will be restarted at max_memory; take heap snapshots (node --heapsnapshot-signal=SIGUSR2) to find what is kept.");
        if (i is { HeapUsedBytes: { } used, HeapLimitBytes: { } limit } && Thresholds.HeapNear(used, limit))
            yield return new WhyFinding("heap_near_limit", null, $"the heap of {at} is near its limit", 0, null,
                [$"heap {Mib(used)} of its {Mib(limit)} limit ({used * 100 / limit} %)"],
                $"Raise max_old_space_size (now {(spec.MaxOldSpaceSizeMb is { } mb ? $"{mb}M" : "node's default")}) if the app needs more; if the heap only grows, it leaks.");
        if (i is { OpenFiles: { } files, MaxOpenFiles: { } max } && Thresholds.OpenFilesNear(files, max))
            yield return new WhyFinding("open_files", null, $"{at} is near its open-file limit", 0, null,
                [$"open files {files} of {max} ({files * 100 / max} %)"],
                $"Raise max_open_files (now {max}); if open files only grow, files or sockets are not closed.");
        if (i.EventLoopLagMs is { } lag && Thresholds.Lagging(lag))
            yield return new WhyFinding("event_loop", null, $"the event loop of {at} lags", 0, null,
                [$"event loop delay p99 {lag:0} ms, p50 {i.EventLoopP50Ms:0.#} ms"],
                "Synchronous work blocks every request meanwhile: find it with node --cpu-prof, move it to a worker thread, or split it; health.max_lag restarts an instance that lags too long.");
    }

    private static IEnumerable<string> MetricLines(string reason, MetricsBefore? m, AppSpec spec)
    {
        if (m is null) yield break;
        if (m.MemoryBytes is { } rss && (reason is ExitReasons.MaxMemory or ExitReasons.OomKernel || m.MemoryGrowthMbPerMin is not null))
            yield return $"RSS {Mib(rss)} before the exit" + (m.MemoryGrowthMbPerMin is { } g ? $", growing {g:0.#} MB/min" : "")
                + (spec.MaxMemory is { } mm && reason == ExitReasons.MaxMemory ? $" (max_memory {Mib(mm)})" : "");
        if (m is { HeapUsedBytes: { } used, HeapLimitBytes: { } limit } && limit > 0 && (reason == ExitReasons.OomHeap || Thresholds.HeapNear(used, limit)))
            yield return $"heap {Mib(used)} of its {Mib(limit)} limit before the exit";
        if (m is { OpenFiles: { } files, MaxOpenFiles: { } max } && max > 0 && (reason == ExitReasons.Emfile || Thresholds.OpenFilesNear(files, max)))
            yield return $"open files {files} of {max} before the exit";
        if (m.EventLoopLagMs is { } lag && (Thresholds.Lagging(lag) || reason == ExitReasons.Health))
            yield return $"event loop delay p99 {lag:0} ms before the exit";
    }

    /// <summary>A finding's title. An exit the config made final (restart = "never", stop_exit_codes) is an "exit"
    /// whatever its code: the title says the code, which is the evidence.</summary>
    public static string Title(string reason, string? cause, int? code = null) => (reason, cause) switch
    {
        (ExitReasons.OomHeap, _) => "JavaScript heap out of memory",
        (ExitReasons.OomKernel, _) => "killed by the kernel's OOM killer",
        (ExitReasons.Emfile, ExitCauses.EmfileWatch) => "too many open files (file watchers)",
        (ExitReasons.Emfile, _) => "too many open files (EMFILE)",
        (ExitReasons.EaddrInUse, _) => "its port was already in use (EADDRINUSE)",
        (ExitReasons.ModuleNotFound, _) => "a module could not be found",
        (ExitReasons.NotReady, _) => "not ready within listen_timeout",
        (ExitReasons.Health, _) => "failed health checks",
        (ExitReasons.MaxMemory, _) => "memory above max_memory",
        (ExitReasons.Signal, _) => "killed by a signal from outside NodeKeeper",
        (ExitReasons.Exit, _) => $"exited by itself with code {code ?? 0}",
        (_, ExitCauses.UnhandledRejection) => "an unhandled promise rejection",
        (_, ExitCauses.UnhandledErrorEvent) => "an 'error' event nobody listened for",
        (_, ExitCauses.ThrownNonError) => "an uncaught throw of a value that is not an Error",
        (_, ExitCauses.LoggedError) => "an error the app logged before it exited",
        (_, ExitCauses.WriteAfterEnd) => "a write after the response ended (ERR_STREAM_WRITE_AFTER_END)",
        (_, ExitCauses.NativeCrash) => "a fatal error inside node itself",
        (_, ExitCauses.HeadersSent) => "a response sent twice (ERR_HTTP_HEADERS_SENT)",
        (_, ExitCauses.NextCalledTwice) => "Express middleware called next() more than once",
        (_, ExitCauses.ForkEagain) => "a new process could not be created (EAGAIN)",
        (_, ExitCauses.WorkerInitFailed) => "a worker failed to start",
        (_, ExitCauses.StackOverflow) => "maximum call stack size exceeded",
        (_, ExitCauses.SyntaxError) => "the script does not parse (SyntaxError)",
        (_, ExitCauses.UncaughtException) => "an uncaught exception",
        _ => "a crash",
    };

    public static string Remedy(string reason, string? cause, AppSpec spec, MetricsBefore? before = null)
    {
        var heap = spec.MaxOldSpaceSizeMb is { } mb ? $"max_old_space_size = \"{mb}M\"" : "node's default heap limit";
        return (reason, cause) switch
        {
            (ExitReasons.OomHeap, _) =>
                $"The V8 heap reached its limit ({heap}{(before?.HeapLimitBytes is { } l ? $", {Mib(l)}" : "")}). If the app needs more, raise max_old_space_size; if its heap grew steadily, it leaks: take heap snapshots (node --heapsnapshot-near-heap-limit=1).",
            (ExitReasons.OomKernel, _) =>
                "The machine or container ran out of memory and the kernel killed it. Set max_memory below that limit so NodeKeeper restarts it gracefully first, and look for the growth (nk describe).",
            (ExitReasons.Emfile, ExitCauses.EmfileWatch) =>
                $"File watching used up its file descriptors: watch fewer files, or raise max_open_files (now {Files(spec)}); ENOSPC means raising sysctl fs.inotify.max_user_watches.",
            (ExitReasons.Emfile, _) =>
                $"It ran out of file descriptors: raise max_open_files (now {Files(spec)}); if its open files only grow, files or sockets are never closed.",
            (ExitReasons.EaddrInUse, _) =>
                $"Another process holds the port{(spec.Port is { } p ? $" ({p})" : "")}: stop it (ss -ltnp shows who) or change port; with port_mode = \"shared\" NodeKeeper holds the port itself, so the app must listen on PORT.",
            (ExitReasons.ModuleNotFound, _) =>
                $"Install the app's dependencies (npm ci) in {spec.Cwd}, and check script and cwd in the config.",
            (ExitReasons.NotReady, _) => spec.Ready switch
            {
                ReadyMode.Message => $"With ready = \"message\" it must call process.send('ready') within listen_timeout ({Seconds(spec.ListenTimeout)}): raise listen_timeout if it starts slowly.",
                ReadyMode.Health => $"With ready = \"health\" its health.url{(spec.Health is { } h ? $" ({h.Url}, on each instance's own port)" : "")} must answer 2xx or 3xx within listen_timeout ({Seconds(spec.ListenTimeout)}): the evidence gives the last check; raise listen_timeout if it warms up slowly.",
                _ => $"With ready = \"listen\" it must listen on PORT{(spec.Port is { } p ? $" ({p})" : "")} within listen_timeout ({Seconds(spec.ListenTimeout)}): check the port it listens on, or raise listen_timeout if it starts slowly.",
            },
            (ExitReasons.Health, _) =>
                "The evidence says which check failed. A stalled or lagging event loop is synchronous work: find it with node --cpu-prof. If the check is too strict, raise health.timeout or health.failures.",
            (ExitReasons.MaxMemory, _) =>
                $"Its memory passed max_memory{(spec.MaxMemory is { } m ? $" ({Mib(m)})" : "")} and NodeKeeper restarted it gracefully: raise max_memory if that is its normal size; if it grew steadily, it leaks.",
            (ExitReasons.Signal, _) =>
                "Something outside NodeKeeper sent the signal (an operator, a script, another supervisor); a SIGKILL nobody sent may be the kernel: see dmesg.",
            (ExitReasons.Exit, _) =>
                "A server should not end by itself: check that it keeps something listening or scheduled; restart = \"on-failure\" with stop_exit_codes = [0] leaves a finished job stopped.",
            (_, ExitCauses.UnhandledRejection) =>
                "A promise was rejected and nobody caught it: await it inside try/catch, or add .catch() where it is created.",
            (_, ExitCauses.UnhandledErrorEvent) =>
                "An emitter (a server, socket, stream or child process) emitted 'error' with no listener: add .on('error', …) where it is created and handle the error shown.",
            (_, ExitCauses.ThrownNonError) =>
                "Something threw a plain value, so there is no stack: throw new Error(…) instead, then the evidence shows where.",
            (_, ExitCauses.LoggedError) =>
                "The app printed this error and exited on its own with a failure code: the evidence is its own message.",
            (_, ExitCauses.WriteAfterEnd) =>
                "A response was written after it ended: a handler answered twice (in Express, code that goes on after res.send() or next()); return right after answering.",
            (_, ExitCauses.NativeCrash) =>
                "Node itself failed (a C++ assertion, or a resource limit so low node cannot start): read the first line of the evidence; a process or memory limit is a common cause.",
            (_, ExitCauses.HeadersSent) =>
                "A request was answered twice: in Express, a middleware called next() after sending a response, or sent twice; return right after res.send() / next().",
            (_, ExitCauses.NextCalledTwice) =>
                "A middleware called next() more than once: return after calling next(), and do not call it both in a callback and after it.",
            (_, ExitCauses.ForkEagain) =>
                "The system refused a new process: raise the user's process limit (ulimit -u, LimitNPROC= in systemd) or lower instances, and check that the app reaps the processes it spawns.",
            (_, ExitCauses.WorkerInitFailed) =>
                "A worker could not start: read the error shown; it is often a memory or process limit, or a script path.",
            (_, ExitCauses.StackOverflow) =>
                "Endless recursion: fix the function that calls itself in the frames shown.",
            (_, ExitCauses.SyntaxError) =>
                "The code does not parse (a broken deploy?): fix the syntax error shown; nk reload keeps the old version serving until the new one starts.",
            (_, ExitCauses.UncaughtException) =>
                "Fix the error shown (its first frame is where it was thrown); NodeKeeper restarts the app meanwhile, with backoff if it keeps failing.",
            _ =>
                $"It exited with a failure code: the last lines of its stderr are the evidence (nk logs {spec.Name} --err).",
        };
    }

    private static string Files(AppSpec spec) => spec.MaxOpenFiles is { } n ? n.ToString() : "the system default";
    private static string Seconds(TimeSpan t) => t.TotalSeconds >= 1 ? $"{t.TotalSeconds:0.##}s" : $"{t.TotalMilliseconds:0}ms";
    private static string Mib(long? bytes) => bytes is { } b ? $"{b / (1024.0 * 1024):0.#} MiB" : "-";

    private static string? Until(long? limit, long? now, double mbPerMin) =>
        limit is { } l && now is { } n && l > n && mbPerMin > 0 ? InstanceWarnings.About((l - n) / (1024.0 * 1024) / mbPerMin * 60) : null;

    /// <summary>The texts of an instance's warnings of one kind (`warning_kinds` names each warning's kind, in order).</summary>
    private static IEnumerable<string> Of(InstanceInfo i, WarningKind kind) =>
        (i.Warnings ?? []).Zip(i.WarningKinds ?? []).Where(w => w.Second == kind.Wire()).Select(w => w.First);
}
