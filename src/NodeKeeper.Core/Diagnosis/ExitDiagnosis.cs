using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>What an exit was, why, and the stderr lines that show it.</summary>
/// <param name="Reason">One of the <see cref="ExitReasons"/> constants.</param>
/// <param name="Cause">A finer, stable kebab-case sub-kind from <see cref="ExitCauses"/>, or null when the reason says it all.</param>
/// <param name="Evidence">At most <see cref="ExitClassifier.MaxEvidenceLines"/> stderr lines, trimmed, without ANSI escapes, in the order they were written.</param>
public sealed record ExitDiagnosis(string Reason, string? Cause, IReadOnlyList<string> Evidence);

/// <summary>
/// The values of <see cref="ExitDiagnosis.Cause"/>: stable kebab-case names that pick the remedy text.
/// A specific cause (what went wrong) beats a generic one (how it surfaced).
/// </summary>
public static class ExitCauses
{
    // ---- how a generic error surfaced (reason crash) ----

    /// <summary>An exception nobody caught: Node's own fatal report (source line, caret, <c>Node.js vX</c> trailer),
    /// or an app handler that prints "Uncaught Exception: ..." before exiting. Node 18–22 print an unhandled
    /// rejection whose reason is an Error exactly like this, so such rejections land here too.</summary>
    public const string UncaughtException = "uncaught-exception";

    /// <summary>An unhandled promise rejection that Node reports as such: a non-Error reason
    /// (<c>UnhandledPromiseRejection</c> / <c>ERR_UNHANDLED_REJECTION</c>), or an app handler that prints "Unhandled Rejection".</summary>
    public const string UnhandledRejection = "unhandled-rejection";

    /// <summary>An 'error' event with no listener (<c>throw er; // Unhandled 'error' event</c>, "Emitted 'error' event on X instance").</summary>
    public const string UnhandledErrorEvent = "unhandled-error-event";

    /// <summary>Something that is not an Error was thrown (<c>throw 'text'</c>): no stack, Node suggests <c>--trace-uncaught</c>.</summary>
    public const string ThrownNonError = "thrown-non-error";

    /// <summary>An error was printed, but not by Node's fatal handler, and the process then exited non-zero
    /// (the app most likely caught it, logged it and called <c>process.exit</c>).</summary>
    public const string LoggedError = "logged-error";

    // ---- what went wrong (reason crash) ----

    /// <summary><c>ERR_HTTP_HEADERS_SENT</c> "Cannot set/write headers after they are sent to the client": a handler
    /// responded twice (typically Express middleware that calls <c>next()</c> after responding, or a missing <c>return</c>).</summary>
    public const string HeadersSent = "headers-sent";

    /// <summary><c>ERR_STREAM_WRITE_AFTER_END</c> "write after end": a write to a response/stream that was already ended
    /// (Node 18 reports a second <c>writeHead</c>+<c>end</c> on an HTTP response this way).</summary>
    public const string WriteAfterEnd = "write-after-end";

    /// <summary>"next() called multiple times" (koa-compose and similar middleware chains).</summary>
    public const string NextCalledTwice = "next-called-twice";

    /// <summary>A child process could not be created: <c>spawn ... EAGAIN</c> (errno -11), "cluster.fork() failed",
    /// "Cannot create child process" (RLIMIT_NPROC, pids.max of the cgroup, or memory).</summary>
    public const string ForkEagain = "fork-eagain";

    /// <summary>A worker thread could not start: <c>ERR_WORKER_INIT_FAILED</c>, "Worker failed to initialize",
    /// "Worker initialization failure" (usually no thread could be created: RLIMIT_NPROC or pids.max).</summary>
    public const string WorkerInitFailed = "worker-init-failed";

    /// <summary>"RangeError: Maximum call stack size exceeded": runaway recursion.</summary>
    public const string StackOverflow = "stack-overflow";

    /// <summary>A SyntaxError while loading code (not a <c>JSON.parse</c> failure, which is an ordinary uncaught exception).</summary>
    public const string SyntaxError = "syntax-error";

    /// <summary>A native crash or abort: a failed C++ assertion in Node, a non-heap V8 <c>FATAL ERROR</c>, or
    /// SIGSEGV/SIGABRT/SIGBUS/SIGILL/SIGFPE/SIGTRAP with nothing better in stderr.</summary>
    public const string NativeCrash = "native-crash";

    // ---- finer kinds of a specific reason ----

    /// <summary>Reason emfile, from file watching: <c>EMFILE ... watch</c> (fs.watch, FSWatcher) or ENOSPC
    /// "System limit for number of file watchers reached" (fs.inotify.max_user_watches).</summary>
    public const string EmfileWatch = "emfile-watch";

    /// <summary>Reason oom_heap: V8 reached its heap limit ("Reached heap limit", "Ineffective mark-compacts near heap limit",
    /// "JavaScript heap out of memory"); the fix is memory use or <c>--max-old-space-size</c>.</summary>
    public const string HeapLimit = "heap-limit";

    /// <summary>Reason oom_heap: a worker thread reached its <c>resourceLimits</c> (<c>ERR_WORKER_OUT_OF_MEMORY</c>) and the error was not handled.</summary>
    public const string WorkerHeapLimit = "worker-heap-limit";

    /// <summary>Reason module_not_found: ESM <c>ERR_MODULE_NOT_FOUND</c> ("Cannot find package 'x' imported from", "Cannot find module '/x.mjs' imported from").</summary>
    public const string EsmModuleNotFound = "esm-module-not-found";

    /// <summary>Reason module_not_found: CommonJS <c>MODULE_NOT_FOUND</c> ("Cannot find module 'x'", with a "Require stack").</summary>
    public const string CjsModuleNotFound = "cjs-module-not-found";

    // ---- signals ----

    /// <summary>Reason signal: NodeKeeper sent the signal itself (stop, restart, max_memory, kill timeout).</summary>
    public const string SentByNodeKeeper = "sent-by-nodekeeper";

    /// <summary>Reason signal: someone else sent it (<c>kill</c>, a terminal, the host's OOM killer without cgroup evidence).</summary>
    public const string ExternalSignal = "external-signal";

    /// <summary>Reason oom_kernel: the cgroup's <c>memory.events</c> oom_kill counter rose and the process got SIGKILL.</summary>
    public const string CgroupOomKill = "cgroup-oom-kill";
}
