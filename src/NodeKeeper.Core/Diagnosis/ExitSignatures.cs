using NodeKeeper.Core.Supervision;
using static NodeKeeper.Core.Diagnosis.StderrLines;
using static NodeKeeper.Core.Diagnosis.Wording;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>
/// Every exit <see cref="ExitClassifier"/> tells apart, as three tables it walks in order: <see cref="Statuses"/> (what the
/// exit status alone explains), <see cref="Lines"/> (a specific cause one stderr line shows, ranked) and
/// <see cref="Blocks"/> (how a generic error surfaced). Adding a cause is adding a row; the tests check that every row
/// decides some real stderr.
/// </summary>
internal static class ExitSignatures
{
    // ------------------------------------------------------------------ the exit status

    /// <summary>The first that matches decides, and stderr is not read.</summary>
    public static readonly IReadOnlyList<StatusSignature> Statuses =
    [
        new("clean-exit", ExitReasons.Exit, null, s => s.Code == 0),
        new("sent-by-nodekeeper", ExitReasons.Signal, ExitCauses.SentByNodeKeeper, s => s.Signal is not null && s.SentByNodeKeeper),
        // A wrapper (a shell, tini) reports the kill as code 137.
        new("cgroup-oom-kill", ExitReasons.OomKernel, ExitCauses.CgroupOomKill,
            s => s.KernelOomKill && (s.Signal == "SIGKILL" || (s.Signal is null && s.Code == 137))),
        new("external-signal", ExitReasons.Signal, ExitCauses.ExternalSignal, s => s.Signal is not null && !IsSelfInflicted(s.Signal)),
    ];

    /// <summary>Signals a process raises on itself when it crashes or aborts (V8's heap OOM ends in SIGABRT): stderr tells why.</summary>
    public static bool IsSelfInflicted(string signal) =>
        signal is "SIGABRT" or "SIGIOT" or "SIGSEGV" or "SIGBUS" or "SIGILL" or "SIGFPE" or "SIGTRAP" or "SIGSYS";

    // ------------------------------------------------------------------ one line, ranked

    /// <summary>"EMFILE: too many open files, watch '/x'", "syscall: 'watch'", "Error: ENOSPC ... watch", a watcher frame.</summary>
    private static readonly CauseHint FileWatching = new(ExitCauses.EmfileWatch,
        [Exact(", watch"), Exact("'watch'"), Exact(" watch "), Exact("FSWatcher"), AnyCase("inotify")],
        [Exact("fs/watchers"), Exact("FSWatcher")]);

    /// <summary>
    /// Specific causes, most specific first (see <see cref="LineSignature.Rank"/>). Only non-frame lines are matched:
    /// frames are only paths and function names.
    /// </summary>
    public static readonly IReadOnlyList<LineSignature> Lines =
    [
        // ---- memory: V8's heap, the main thread's or a worker's
        new("heap-limit", 0, ExitReasons.OomHeap, ExitCauses.HeapLimit,
        [
            AnyCase("JavaScript heap out of memory"), AnyCase("Reached heap limit"), AnyCase("Ineffective mark-compacts near heap limit"),
            AnyCase("Allocation failed - process out of memory"),
        ]) { Evidence = LastFullGc },
        new("worker-heap-limit", 0, ExitReasons.OomHeap, ExitCauses.WorkerHeapLimit, [Exact("ERR_WORKER_OUT_OF_MEMORY")])
            { Evidence = LastFullGc },

        // ---- modules: ESM first, its messages also say "Cannot find module"
        new("esm-module-not-found", 1, ExitReasons.ModuleNotFound, ExitCauses.EsmModuleNotFound,
            [Exact("ERR_MODULE_NOT_FOUND"), Exact("Cannot find package"), Exact("Cannot find module") & Exact(" imported from ")]),
        new("cjs-module-not-found", 1, ExitReasons.ModuleNotFound, ExitCauses.CjsModuleNotFound,
            [Exact("MODULE_NOT_FOUND"), Exact("Cannot find module")]) { Evidence = RequireStack },

        // ---- ports
        new("eaddrinuse", 2, ExitReasons.EaddrInUse, null, [Exact("EADDRINUSE"), AnyCase("address already in use")]),

        // ---- descriptors and file watchers
        new("file-watcher-limit", 3, ExitReasons.Emfile, ExitCauses.EmfileWatch, [AnyCase("System limit for number of file watchers reached")]),
        new("emfile", 3, ExitReasons.Emfile, null, [Exact("EMFILE"), Exact("ENFILE"), AnyCase("too many open files")]) { Hint = FileWatching },

        // ---- threads and processes
        new("worker-init-failed", 4, ExitReasons.Crash, ExitCauses.WorkerInitFailed,
            [Exact("ERR_WORKER_INIT_FAILED"), AnyCase("Worker failed to initialize"), AnyCase("Worker initialization failure")]),
        new("fork-eagain", 5, ExitReasons.Crash, ExitCauses.ForkEagain,
        [
            Exact("EAGAIN") & Exact("spawn"), Exact("EAGAIN") & AnyCase("fork"), AnyCase("cluster.fork() failed"),
            AnyCase("Cannot create child process"),
        ]),

        // ---- HTTP handlers and middleware that respond twice
        new("headers-sent", 6, ExitReasons.Crash, ExitCauses.HeadersSent, [Exact("ERR_HTTP_HEADERS_SENT"), AnyCase("headers after they are sent")]),
        new("write-after-end", 7, ExitReasons.Crash, ExitCauses.WriteAfterEnd, [Exact("ERR_STREAM_WRITE_AFTER_END"), AnyCase("write after end")]),
        new("next-called-twice", 8, ExitReasons.Crash, ExitCauses.NextCalledTwice,
            [AnyCase("next() called multiple times"), AnyCase("next() called twice"), AnyCase("next() was called multiple times")]),

        // ---- recursion
        new("stack-overflow", 9, ExitReasons.Crash, ExitCauses.StackOverflow, [Exact("Maximum call stack size exceeded")]),
    ];

    /// <summary>The first signature of <see cref="Lines"/> that one line shows, or null.</summary>
    public static LineSignature? Match(string line)
    {
        foreach (var s in Lines)
            if (s.Matches(line))
                return s;
        return null;
    }

    /// <summary>V8 prints its last GCs before FATAL ERROR: the last full one shows the heap size at death.</summary>
    private static void LastFullGc(FatalBlock b, SortedSet<int> evidence)
    {
        if (!b.IsNativeReport) return;
        for (var i = b.Header - 1; i >= 0 && i >= b.Header - 40; i--)
        {
            var line = b.Lines[i];
            if (line.Contains("Mark-Compact", StringComparison.Ordinal) || line.Contains("Mark-sweep", StringComparison.Ordinal) ||
                line.Contains("Mark-Sweep", StringComparison.Ordinal))
            {
                evidence.Add(i);
                return;
            }
        }
    }

    /// <summary>"Require stack:" and the module that required the missing one (a native report has neither).</summary>
    private static void RequireStack(FatalBlock b, SortedSet<int> evidence)
    {
        if (b.IsNativeReport) return;
        var rs = b.FindLine(b.Header + 1, l => l.StartsWith("Require stack:", StringComparison.Ordinal));
        if (rs < 0) return;
        evidence.Add(rs);
        if (rs + 1 < b.End && b.Lines[rs + 1].StartsWith("- ", StringComparison.Ordinal)) evidence.Add(rs + 1);
    }

    // ------------------------------------------------------------------ the whole block, when no line is specific

    /// <summary>The first that matches decides; the last matches every block.</summary>
    public static readonly IReadOnlyList<BlockSignature> Blocks =
    [
        new("native-report", ExitReasons.Crash, ExitCauses.NativeCrash, b => b.IsNativeReport),
        new("thrown-value", ExitReasons.Crash, ExitCauses.ThrownNonError, b => b.Kind == HeaderKind.ThrownValue),
        new("rejection-log", ExitReasons.Crash, ExitCauses.UnhandledRejection, b => b.Kind == HeaderKind.UnhandledRejectionLog),
        new("rejection-code", ExitReasons.Crash, ExitCauses.UnhandledRejection,
            b => b.FindLine(b.Header, l => !IsFrame(l) && (l.Contains("ERR_UNHANDLED_REJECTION", StringComparison.Ordinal) ||
                                                          l.Contains("UnhandledPromiseRejection", StringComparison.Ordinal))) >= 0),
        new("syntax-error", ExitReasons.Crash, ExitCauses.SyntaxError,
            b => b.HeaderLine.Contains("SyntaxError", StringComparison.Ordinal) && !LooksLikeJson(b)) { Evidence = SourceLine },
        new("uncaught-header", ExitReasons.Crash, ExitCauses.UncaughtException,
            b => b.HeaderLine.Contains("Uncaught", StringComparison.OrdinalIgnoreCase) ||
                 b.HeaderLine.Contains("uncaughtException", StringComparison.Ordinal)),
        new("rejection-header", ExitReasons.Crash, ExitCauses.UnhandledRejection,
            b => b.HeaderLine.Contains("unhandled rejection", StringComparison.OrdinalIgnoreCase) ||
                 b.HeaderLine.Contains("unhandledRejection", StringComparison.Ordinal)),
        new("unhandled-error-event", ExitReasons.Crash, ExitCauses.UnhandledErrorEvent,
            b => (b.Preamble.Found && b.Lines[b.Preamble.Source].Contains("Unhandled 'error' event", StringComparison.Ordinal)) ||
                 b.FindLine(b.Header, IsEmittedError) >= 0) { Evidence = EmittedLine },
        new("node-fatal-report", ExitReasons.Crash, ExitCauses.UncaughtException, b => b.NodeTrailer || b.Preamble.Found),
        new("logged-error", ExitReasons.Crash, ExitCauses.LoggedError, _ => true),
    ];

    /// <summary>A SyntaxError from JSON.parse is a runtime error, not bad code.</summary>
    private static bool LooksLikeJson(FatalBlock b)
    {
        if (b.HeaderLine.Contains("JSON", StringComparison.Ordinal)) return true;
        for (var i = b.Header + 1; i < b.End && i <= b.Header + 4; i++)
            if (b.Lines[i].Contains("JSON.parse", StringComparison.Ordinal))
                return true;
        return false;
    }

    private static bool IsEmittedError(string line) => line.StartsWith("Emitted 'error' event", StringComparison.Ordinal);

    /// <summary>Where in the code, from Node's preamble: a load-time error's frames are Node's loader.</summary>
    private static void SourceLine(FatalBlock b, SortedSet<int> evidence)
    {
        if (!b.Preamble.Found) return;
        if (b.Preamble.Location >= 0) evidence.Add(b.Preamble.Location);
        evidence.Add(b.Preamble.Source);
    }

    /// <summary>"Emitted 'error' event on Socket instance at:": what had no 'error' listener.</summary>
    private static void EmittedLine(FatalBlock b, SortedSet<int> evidence)
    {
        var emitted = b.FindLine(b.Header + 1, IsEmittedError);
        if (emitted >= 0) evidence.Add(emitted);
    }
}
