using System.Text;
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

/// <summary>
/// Decides why a Node.js process ended from its exit code or signal and the tail of its stderr.
/// Pure and allocation-light: linear string scanning only (NativeAOT-friendly, no regex backtracking).
/// </summary>
/// <remarks>
/// The stderr tail is cut into "blocks", each starting at an error header (<c>TypeError: ...</c>,
/// <c>Error [CODE]: ...</c>, <c>FATAL ERROR: ...</c>, a thrown non-Error value, a native assertion). The LAST block is
/// taken as the fatal one (earlier blocks are errors the app logged and survived); its header and property lines,
/// not its stack frames, are searched for the specific causes. Without any block, the last few lines are searched.
/// </remarks>
public static class ExitClassifier
{
    /// <summary>The most lines <see cref="ExitDiagnosis.Evidence"/> holds.</summary>
    public const int MaxEvidenceLines = 8;

    /// <summary>Evidence lines longer than this are cut (with an ellipsis).</summary>
    public const int MaxEvidenceLineLength = 400;

    private const int MaxFrames = 3;
    private const int FallbackLines = 20;

    /// <summary>Classifies one exit.</summary>
    /// <param name="code">The exit code, or null when the process was killed by a signal.</param>
    /// <param name="signal">"SIGKILL" etc. (the "SIG" prefix is optional), or null.</param>
    /// <param name="stderrTail">The last up-to-64 KiB the process wrote to stderr, raw and unprefixed; it may start mid-line.</param>
    /// <param name="signalSentByNodeKeeper">True when NodeKeeper itself sent <paramref name="signal"/>; ignored when no signal is given.</param>
    /// <param name="kernelOomKill">True when the cgroup's memory.events oom_kill counter rose during this run.</param>
    /// <returns>
    /// Code 0 is always <see cref="ExitReasons.Exit"/>. A signal NodeKeeper sent is <see cref="ExitReasons.Signal"/>.
    /// SIGKILL (or code 137) with <paramref name="kernelOomKill"/> is <see cref="ExitReasons.OomKernel"/>. Other external
    /// signals (SIGTERM, SIGINT, SIGKILL, ...) are <see cref="ExitReasons.Signal"/> whatever stderr says. Self-inflicted
    /// signals (SIGABRT, SIGSEGV, ...) and non-zero codes take the cause shown by the last error in stderr:
    /// oom_heap, emfile, eaddrinuse, module_not_found, else crash (or signal/native-crash for a signal).
    /// </returns>
    public static ExitDiagnosis Classify(int? code, string? signal, string stderrTail, bool signalSentByNodeKeeper = false, bool kernelOomKill = false)
    {
        if (code == 0) return new ExitDiagnosis(ExitReasons.Exit, null, []);

        var sig = NormalizeSignal(signal);
        if (sig is not null && signalSentByNodeKeeper)
            return new ExitDiagnosis(ExitReasons.Signal, ExitCauses.SentByNodeKeeper, []);
        if (kernelOomKill && (sig == "SIGKILL" || (sig is null && code == 137)))
            return new ExitDiagnosis(ExitReasons.OomKernel, ExitCauses.CgroupOomKill, []);
        if (sig is not null && !IsSelfInflicted(sig))
            return new ExitDiagnosis(ExitReasons.Signal, ExitCauses.ExternalSignal, []);

        var lines = SplitLines(stderrTail ?? "");
        var found = AnalyzeLastBlock(lines) ?? AnalyzeLastLines(lines);

        if (sig is not null)
        {
            // Killed by its own abort/segfault: a heap OOM, a specific cause or a fatal JS error printed just before the
            // abort (--abort-on-uncaught-exception) says more than "native crash"; an error the app merely logged does not.
            if (found is null || found.Cause == ExitCauses.LoggedError)
                return new ExitDiagnosis(ExitReasons.Signal, ExitCauses.NativeCrash, LastNonEmpty(lines, 3));
            if (found.Reason == ExitReasons.Crash && found.Cause == ExitCauses.NativeCrash)
                return found with { Reason = ExitReasons.Signal };
            return found;
        }
        return found ?? new ExitDiagnosis(ExitReasons.Crash, null, LastNonEmpty(lines, 3));
    }

    // ------------------------------------------------------------------ signals

    private static string? NormalizeSignal(string? signal)
    {
        if (string.IsNullOrWhiteSpace(signal)) return null;
        var s = signal.Trim().ToUpperInvariant();
        return s.StartsWith("SIG", StringComparison.Ordinal) ? s : "SIG" + s;
    }

    /// <summary>Signals a process raises on itself when it crashes or aborts (V8's heap OOM ends in SIGABRT).</summary>
    private static bool IsSelfInflicted(string sig) =>
        sig is "SIGABRT" or "SIGIOT" or "SIGSEGV" or "SIGBUS" or "SIGILL" or "SIGFPE" or "SIGTRAP" or "SIGSYS";

    // ------------------------------------------------------------------ lines

    /// <summary>Splits into lines, dropping ANSI escape sequences and control characters; a lone CR starts the line over
    /// (as a terminal would show it). Trailing whitespace is removed.</summary>
    internal static List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        var sb = new StringBuilder(256);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '\n':
                    lines.Add(sb.ToString().TrimEnd());
                    sb.Clear();
                    break;
                case '\r':
                    if (i + 1 < text.Length && text[i + 1] == '\n') break;
                    sb.Clear();
                    break;
                case '\u001b':
                    i = SkipEscape(text, i);
                    break;
                case '\u009b': // C1 CSI
                    i = SkipCsiBody(text, i + 1);
                    break;
                case '\t':
                    sb.Append(' ');
                    break;
                default:
                    if (!char.IsControl(c)) sb.Append(c);
                    break;
            }
        }
        if (sb.Length > 0) lines.Add(sb.ToString().TrimEnd());
        return lines;
    }

    /// <summary>Returns the index of the last character of the escape sequence that starts at <paramref name="i"/>.</summary>
    private static int SkipEscape(string s, int i)
    {
        if (i + 1 >= s.Length) return i;
        var next = s[i + 1];
        if (next == '[') return SkipCsiBody(s, i + 2);
        if (next == ']' || next == 'P' || next == '_' || next == '^')
        {
            // OSC / DCS / APC / PM: up to BEL or ST (ESC \).
            for (var j = i + 2; j < s.Length; j++)
            {
                if (s[j] == '\u0007') return j;
                if (s[j] == '\u001b' && j + 1 < s.Length && s[j + 1] == '\\') return j + 1;
                if (s[j] == '\n') return j - 1;
            }
            return s.Length - 1;
        }
        // Two-character sequences (ESC c, ESC =, ESC ( B takes one more).
        if ((next == '(' || next == ')') && i + 2 < s.Length) return i + 2;
        return i + 1;
    }

    /// <summary>CSI parameters and intermediates, then one final byte in @..~.</summary>
    private static int SkipCsiBody(string s, int j)
    {
        for (; j < s.Length; j++)
        {
            var c = s[j];
            if (c >= '@' && c <= '~') return j;
            if (c == '\n') return j - 1;
        }
        return s.Length - 1;
    }

    private static bool IsBlank(string line) => line.Length == 0 || string.IsNullOrWhiteSpace(line);

    private static bool IsIndented(string line) => line.Length > 0 && char.IsWhiteSpace(line[0]);

    /// <summary>A JS stack frame: "    at f (file:1:2)".</summary>
    private static bool IsFrame(string line) =>
        IsIndented(line) && line.AsSpan().TrimStart().StartsWith("at ", StringComparison.Ordinal);

    /// <summary>A line of a native stack trace: "12: 0x10b7e4a v8::internal::...".</summary>
    private static bool IsNativeFrame(string line)
    {
        var t = line.AsSpan().TrimStart();
        var k = 0;
        while (k < t.Length && char.IsAsciiDigit(t[k])) k++;
        return k > 0 && t[k..].StartsWith(": 0x", StringComparison.Ordinal);
    }

    private static bool IsNodeTrailer(string line) =>
        line.StartsWith("Node.js v", StringComparison.Ordinal) && line.Length > 9 && char.IsAsciiDigit(line[9]);

    private static bool IsCaretLine(string line)
    {
        var t = line.AsSpan().Trim();
        if (t.IsEmpty) return false;
        foreach (var c in t)
            if (c != '^')
                return false;
        return true;
    }

    // ------------------------------------------------------------------ headers

    private enum HeaderKind { None, Error, Fatal, Native, ThrownValue, UnhandledRejectionLog }

    /// <summary>Whether a line starts an error report, and what kind.</summary>
    private static HeaderKind HeaderOf(string line)
    {
        if (line.Length == 0) return HeaderKind.None;
        if (IsIndented(line))
        {
            // Node 20+ prints its C++ assertion as "  #  Assertion failed: ..." (indented).
            var t = line.AsSpan().TrimStart();
            if (t.StartsWith("#", StringComparison.Ordinal) &&
                (t.Contains("Assertion failed", StringComparison.Ordinal) || t.Contains("Fatal error", StringComparison.Ordinal) ||
                 t.Contains("Fatal JavaScript", StringComparison.Ordinal)))
                return HeaderKind.Native;
            return HeaderKind.None;
        }
        if (line.StartsWith("(node:", StringComparison.Ordinal)) return HeaderKind.None; // process warnings
        if (IsNativeFrame(line)) return HeaderKind.None;
        if (line[0] is '}' or ']' or ')') return HeaderKind.None; // the end of a printed object, e.g. "} reason: Error: x"
        if (line.StartsWith("FATAL ERROR:", StringComparison.Ordinal)) return HeaderKind.Fatal;
        if (line.StartsWith("#", StringComparison.Ordinal) &&
            (line.Contains("Fatal error", StringComparison.Ordinal) || line.Contains("Fatal JavaScript", StringComparison.Ordinal)))
            return HeaderKind.Native;
        if (line.Contains("Assertion `", StringComparison.Ordinal) && line.Contains("' failed", StringComparison.Ordinal))
            return HeaderKind.Native; // Node 18: "node[pid]: ../src/x.cc:68:...: Assertion `...' failed."
        if (StartsWithAny(line, "Unhandled Rejection", "Unhandled rejection", "Unhandled promise rejection", "unhandledRejection"))
            return HeaderKind.UnhandledRejectionLog;
        return HasErrorName(line) ? HeaderKind.Error : HeaderKind.None;
    }

    private static bool StartsWithAny(string line, params ReadOnlySpan<string> prefixes)
    {
        foreach (var p in prefixes)
            if (line.StartsWith(p, StringComparison.Ordinal))
                return true;
        return false;
    }

    /// <summary>
    /// Whether the line holds an error name followed by its message: <c>TypeError: x</c>, <c>Error [ERR_X]: x</c>,
    /// <c>[UnhandledPromiseRejection: x</c>, or the same after a prefix (<c>Uncaught Exception: TypeError: x</c>,
    /// <c>cache failed: Error: EMFILE ...</c>). The name is a whole word that starts with a capital letter, at the start
    /// of the line or after a space or '[', and ends in Error, Exception or Rejection. One pass over the line.
    /// </summary>
    private static bool HasErrorName(string line)
    {
        var i = 0;
        while (i < line.Length)
        {
            if (!IsNameChar(line[i]))
            {
                i++;
                continue;
            }
            var start = i;
            while (i < line.Length && IsNameChar(line[i])) i++;
            if (!char.IsAsciiLetterUpper(line[start])) continue;
            if (start > 0 && line[start - 1] is not (' ' or '[')) continue;
            var name = line.AsSpan(start, i - start);
            if (!name.EndsWith("Error", StringComparison.Ordinal) && !name.EndsWith("Exception", StringComparison.Ordinal) &&
                !name.EndsWith("Rejection", StringComparison.Ordinal))
                continue;
            var end = i;
            // Optional " [CODE]" (codes are short; do not look far).
            if (end + 1 < line.Length && line[end] == ' ' && line[end + 1] == '[')
            {
                var close = line.AsSpan(end + 2, Math.Min(64, line.Length - end - 2)).IndexOf(']');
                if (close < 0) continue;
                end = end + 2 + close + 1;
            }
            if (end < line.Length && line[end] == ':' && (end + 1 == line.Length || line[end + 1] == ' ')) return true;
        }
        return false;
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '$' or '.';

    private const string TraceUncaughtHint = "(Use `node --trace-uncaught";

    /// <summary>The index of every header, in order.</summary>
    private static List<(int Index, HeaderKind Kind)> FindHeaders(List<string> lines)
    {
        var headers = new List<(int, HeaderKind)>();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            if (line.StartsWith(TraceUncaughtHint, StringComparison.Ordinal))
            {
                // A thrown non-Error: its printed value sits between the caret line and this hint.
                var valueStart = ThrownValueStart(lines, i);
                if (valueStart >= 0)
                {
                    headers.RemoveAll(h => h.Item1 >= valueStart);
                    headers.Add((valueStart, HeaderKind.ThrownValue));
                }
                continue;
            }
            var kind = HeaderOf(line);
            if (kind != HeaderKind.None) headers.Add((i, kind));
        }
        return headers;
    }

    private static int ThrownValueStart(List<string> lines, int hint)
    {
        for (var j = hint - 1; j >= 0 && j >= hint - 30; j--)
        {
            if (IsCaretLine(lines[j]))
            {
                for (var k = j + 1; k < hint; k++)
                    if (!IsBlank(lines[k]))
                        return k;
                return -1;
            }
        }
        for (var j = hint - 1; j >= 0; j--)
            if (!IsBlank(lines[j]))
                return j;
        return -1;
    }

    // ------------------------------------------------------------------ signatures

    private sealed record Signature(int Rank, string Reason, string? Cause);

    /// <summary>
    /// The specific cause one non-frame line shows, most specific first. Error codes are matched case-sensitively
    /// (EMFILE, not "emfile" in a path); messages case-insensitively where Node's wording has varied.
    /// </summary>
    private static Signature? SignatureOf(string line)
    {
        var s = line.AsSpan();
        if (s.Contains("JavaScript heap out of memory", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("Reached heap limit", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("Ineffective mark-compacts near heap limit", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("Allocation failed - process out of memory", StringComparison.OrdinalIgnoreCase))
            return new(0, ExitReasons.OomHeap, ExitCauses.HeapLimit);
        if (s.Contains("ERR_WORKER_OUT_OF_MEMORY", StringComparison.Ordinal))
            return new(0, ExitReasons.OomHeap, ExitCauses.WorkerHeapLimit);

        if (s.Contains("ERR_MODULE_NOT_FOUND", StringComparison.Ordinal) || s.Contains("Cannot find package", StringComparison.Ordinal) ||
            (s.Contains("Cannot find module", StringComparison.Ordinal) && s.Contains(" imported from ", StringComparison.Ordinal)))
            return new(1, ExitReasons.ModuleNotFound, ExitCauses.EsmModuleNotFound);
        if (s.Contains("MODULE_NOT_FOUND", StringComparison.Ordinal) || s.Contains("Cannot find module", StringComparison.Ordinal))
            return new(1, ExitReasons.ModuleNotFound, ExitCauses.CjsModuleNotFound);

        if (s.Contains("EADDRINUSE", StringComparison.Ordinal) || s.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            return new(2, ExitReasons.EaddrInUse, null);

        if (s.Contains("System limit for number of file watchers reached", StringComparison.OrdinalIgnoreCase))
            return new(3, ExitReasons.Emfile, ExitCauses.EmfileWatch);
        if (s.Contains("EMFILE", StringComparison.Ordinal) || s.Contains("ENFILE", StringComparison.Ordinal) ||
            s.Contains("too many open files", StringComparison.OrdinalIgnoreCase))
            return new(3, ExitReasons.Emfile, IsWatchLine(s) ? ExitCauses.EmfileWatch : null);

        if (s.Contains("ERR_WORKER_INIT_FAILED", StringComparison.Ordinal) ||
            s.Contains("Worker failed to initialize", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("Worker initialization failure", StringComparison.OrdinalIgnoreCase))
            return new(4, ExitReasons.Crash, ExitCauses.WorkerInitFailed);

        if ((s.Contains("EAGAIN", StringComparison.Ordinal) &&
             (s.Contains("spawn", StringComparison.Ordinal) || s.Contains("fork", StringComparison.OrdinalIgnoreCase))) ||
            s.Contains("cluster.fork() failed", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("Cannot create child process", StringComparison.OrdinalIgnoreCase))
            return new(5, ExitReasons.Crash, ExitCauses.ForkEagain);

        if (s.Contains("ERR_HTTP_HEADERS_SENT", StringComparison.Ordinal) ||
            s.Contains("headers after they are sent", StringComparison.OrdinalIgnoreCase))
            return new(6, ExitReasons.Crash, ExitCauses.HeadersSent);
        if (s.Contains("ERR_STREAM_WRITE_AFTER_END", StringComparison.Ordinal) || s.Contains("write after end", StringComparison.OrdinalIgnoreCase))
            return new(7, ExitReasons.Crash, ExitCauses.WriteAfterEnd);
        if (s.Contains("next() called multiple times", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("next() called twice", StringComparison.OrdinalIgnoreCase) ||
            s.Contains("next() was called multiple times", StringComparison.OrdinalIgnoreCase))
            return new(8, ExitReasons.Crash, ExitCauses.NextCalledTwice);
        if (s.Contains("Maximum call stack size exceeded", StringComparison.Ordinal))
            return new(9, ExitReasons.Crash, ExitCauses.StackOverflow);
        return null;
    }

    /// <summary>"EMFILE: too many open files, watch '/x'", "syscall: 'watch'", "Error: ENOSPC ... watch".</summary>
    private static bool IsWatchLine(ReadOnlySpan<char> s) =>
        s.Contains(", watch", StringComparison.Ordinal) || s.Contains("'watch'", StringComparison.Ordinal) ||
        s.Contains(" watch ", StringComparison.Ordinal) || s.Contains("FSWatcher", StringComparison.Ordinal) ||
        s.Contains("inotify", StringComparison.OrdinalIgnoreCase);

    // ------------------------------------------------------------------ the fatal block

    private static ExitDiagnosis? AnalyzeLastBlock(List<string> lines)
    {
        var headers = FindHeaders(lines);
        if (headers.Count == 0) return null;
        var (h, kind) = headers[^1];

        // The block runs to the end, or just past Node's "Node.js vX" trailer.
        var end = lines.Count;
        var nodeTrailer = false;
        for (var i = h + 1; i < lines.Count; i++)
        {
            if (IsNodeTrailer(lines[i]))
            {
                end = i + 1;
                nodeTrailer = true;
                break;
            }
        }

        var evidence = new SortedSet<int> { h };

        // The most specific signature on a non-frame line; frames are only paths and function names.
        Signature? best = null;
        var bestLine = -1;
        var watchHint = false;
        for (var i = h; i < end; i++)
        {
            var line = lines[i];
            if (IsFrame(line))
            {
                if (line.Contains("fs/watchers", StringComparison.Ordinal) || line.Contains("FSWatcher", StringComparison.Ordinal)) watchHint = true;
                continue;
            }
            if (i > h && IsWatchLine(line)) watchHint = true;
            var sig = SignatureOf(line);
            if (sig is not null && (best is null || sig.Rank < best.Rank))
            {
                best = sig;
                bestLine = i;
            }
        }

        var preamble = Preamble(lines, h);
        string reason;
        string? cause;

        if (best is not null)
        {
            reason = best.Reason;
            cause = best.Cause;
            if (reason == ExitReasons.Emfile && cause is null && watchHint) cause = ExitCauses.EmfileWatch;
            if (bestLine != h) evidence.Add(bestLine);
        }
        else if (kind is HeaderKind.Native or HeaderKind.Fatal)
        {
            reason = ExitReasons.Crash;
            cause = ExitCauses.NativeCrash;
        }
        else
        {
            reason = ExitReasons.Crash;
            cause = GenericCause(lines, h, end, kind, preamble, nodeTrailer);
        }

        AddEvidence(lines, h, end, kind, reason, cause, preamble, evidence);
        return new ExitDiagnosis(reason, cause, Render(lines, evidence));
    }

    /// <summary>Node's fatal report starts with "location:line", the source line and a caret line before the error.</summary>
    private readonly record struct NodePreamble(int Location, int Source, int Caret)
    {
        public bool Found => Caret >= 0;
    }

    private static NodePreamble Preamble(List<string> lines, int h)
    {
        var i = h - 1;
        if (i >= 0 && IsBlank(lines[i])) i--;
        if (i < 1 || !IsCaretLine(lines[i])) return new NodePreamble(-1, -1, -1);
        var source = i - 1;
        var location = source - 1;
        if (location < 0 || !EndsWithLineNumber(lines[location])) location = -1;
        return new NodePreamble(location, source, i);
    }

    private static bool EndsWithLineNumber(string line)
    {
        var colon = line.LastIndexOf(':');
        if (colon < 0 || colon == line.Length - 1) return false;
        for (var k = colon + 1; k < line.Length; k++)
            if (!char.IsAsciiDigit(line[k]))
                return false;
        return true;
    }

    private static string GenericCause(List<string> lines, int h, int end, HeaderKind kind, NodePreamble preamble, bool nodeTrailer)
    {
        var header = lines[h];
        if (kind == HeaderKind.ThrownValue) return ExitCauses.ThrownNonError;
        if (kind == HeaderKind.UnhandledRejectionLog) return ExitCauses.UnhandledRejection;
        for (var i = h; i < end; i++)
        {
            if (IsFrame(lines[i])) continue;
            if (lines[i].Contains("ERR_UNHANDLED_REJECTION", StringComparison.Ordinal) ||
                lines[i].Contains("UnhandledPromiseRejection", StringComparison.Ordinal))
                return ExitCauses.UnhandledRejection;
        }
        if (header.Contains("SyntaxError", StringComparison.Ordinal) && !LooksLikeJson(lines, h, end))
            return ExitCauses.SyntaxError;
        if (header.Contains("Uncaught", StringComparison.OrdinalIgnoreCase) || header.Contains("uncaughtException", StringComparison.Ordinal))
            return ExitCauses.UncaughtException;
        if (header.Contains("unhandled rejection", StringComparison.OrdinalIgnoreCase) || header.Contains("unhandledRejection", StringComparison.Ordinal))
            return ExitCauses.UnhandledRejection;
        if ((preamble.Found && lines[preamble.Source].Contains("Unhandled 'error' event", StringComparison.Ordinal)) ||
            FindLine(lines, h, end, l => l.StartsWith("Emitted 'error' event", StringComparison.Ordinal)) >= 0)
            return ExitCauses.UnhandledErrorEvent;
        if (nodeTrailer || preamble.Found) return ExitCauses.UncaughtException;
        return ExitCauses.LoggedError;
    }

    /// <summary>A SyntaxError from JSON.parse is a runtime error, not bad code.</summary>
    private static bool LooksLikeJson(List<string> lines, int h, int end)
    {
        if (lines[h].Contains("JSON", StringComparison.Ordinal)) return true;
        for (var i = h + 1; i < end && i <= h + 4; i++)
            if (lines[i].Contains("JSON.parse", StringComparison.Ordinal))
                return true;
        return false;
    }

    private static int FindLine(List<string> lines, int from, int end, Func<string, bool> predicate)
    {
        for (var i = from; i < end; i++)
            if (predicate(lines[i]))
                return i;
        return -1;
    }

    private static void AddEvidence(List<string> lines, int h, int end, HeaderKind kind, string reason, string? cause,
        NodePreamble preamble, SortedSet<int> evidence)
    {
        if (kind == HeaderKind.ThrownValue)
        {
            // Where it was thrown (location and source line before the caret), then the value (up to 3 lines).
            var caret = FindCaretBefore(lines, h);
            if (caret >= 2 && EndsWithLineNumber(lines[caret - 2])) evidence.Add(caret - 2);
            if (caret >= 1) evidence.Add(caret - 1);
            for (var i = h + 1; i < end && i < h + 3; i++)
            {
                if (lines[i].StartsWith(TraceUncaughtHint, StringComparison.Ordinal)) break;
                if (!IsBlank(lines[i])) evidence.Add(i);
            }
            return;
        }

        if (kind is HeaderKind.Fatal or HeaderKind.Native)
        {
            if (reason == ExitReasons.OomHeap)
            {
                // The last full GC before the fatal error shows the heap size at death.
                for (var i = h - 1; i >= 0 && i >= h - 40; i--)
                {
                    if (lines[i].Contains("Mark-Compact", StringComparison.Ordinal) || lines[i].Contains("Mark-sweep", StringComparison.Ordinal) ||
                        lines[i].Contains("Mark-Sweep", StringComparison.Ordinal))
                    {
                        evidence.Add(i);
                        break;
                    }
                }
            }
            // Node 20+ prints the assertion over two "  #  " lines: where, then the condition.
            if (h > 0 && kind == HeaderKind.Native)
            {
                var prev = lines[h - 1].AsSpan().Trim();
                if (prev.StartsWith("#", StringComparison.Ordinal) && !prev.TrimStart('#').IsWhiteSpace()) evidence.Add(h - 1);
            }
            return;
        }

        // Load-time errors: where in the code (the frames are Node's loader).
        if (cause == ExitCauses.SyntaxError && preamble.Found)
        {
            if (preamble.Location >= 0) evidence.Add(preamble.Location);
            evidence.Add(preamble.Source);
        }

        if (cause == ExitCauses.CjsModuleNotFound)
        {
            var rs = FindLine(lines, h + 1, end, l => l.StartsWith("Require stack:", StringComparison.Ordinal));
            if (rs >= 0)
            {
                evidence.Add(rs);
                if (rs + 1 < end && lines[rs + 1].StartsWith("- ", StringComparison.Ordinal)) evidence.Add(rs + 1);
            }
        }

        if (cause == ExitCauses.UnhandledErrorEvent)
        {
            var emitted = FindLine(lines, h + 1, end, l => l.StartsWith("Emitted 'error' event", StringComparison.Ordinal));
            if (emitted >= 0) evidence.Add(emitted);
        }

        // The error's own first frames (not those under "Emitted 'error' event ... at:"), plus the first frame in the
        // app's own code when those are all Node's.
        var frames = 0;
        var sawUserFrame = false;
        for (var i = h + 1; i < end && evidence.Count < MaxEvidenceLines; i++)
        {
            if (!IsFrame(lines[i]))
            {
                if (frames > 0 && !IsBlank(lines[i])) break;
                continue;
            }
            if (lines[i].Contains("at new NodeError (node:internal/errors", StringComparison.Ordinal)) continue; // Node 18's error constructor
            var user = IsUserFrame(lines[i]);
            if (frames < MaxFrames)
            {
                evidence.Add(i);
                frames++;
                sawUserFrame |= user;
                continue;
            }
            if (sawUserFrame) break;
            if (user)
            {
                evidence.Add(i);
                break;
            }
        }
    }

    private static int FindCaretBefore(List<string> lines, int h)
    {
        for (var j = h - 1; j >= 0 && j >= h - 3; j--)
            if (IsCaretLine(lines[j]))
                return j;
        return -1;
    }

    /// <summary>A frame in the app's code rather than in Node's (<c>node:internal/...</c>) or V8's (<c>(&lt;anonymous&gt;)</c>).</summary>
    private static bool IsUserFrame(string frame) =>
        !frame.Contains("(node:", StringComparison.Ordinal) && !frame.Contains("at node:", StringComparison.Ordinal) &&
        !frame.Contains("(<anonymous>)", StringComparison.Ordinal);

    // ------------------------------------------------------------------ no block: the last lines

    private static ExitDiagnosis? AnalyzeLastLines(List<string> lines)
    {
        var seen = 0;
        for (var i = lines.Count - 1; i >= 0 && seen < FallbackLines; i--)
        {
            if (IsBlank(lines[i])) continue;
            seen++;
            if (IsFrame(lines[i])) continue;
            var sig = SignatureOf(lines[i]);
            if (sig is not null) return new ExitDiagnosis(sig.Reason, sig.Cause, Render(lines, new SortedSet<int> { i }));
        }
        return null;
    }

    private static IReadOnlyList<string> LastNonEmpty(List<string> lines, int count)
    {
        var picked = new SortedSet<int>();
        for (var i = lines.Count - 1; i >= 0 && picked.Count < count; i--)
            if (!IsBlank(lines[i]))
                picked.Add(i);
        return Render(lines, picked);
    }

    private static IReadOnlyList<string> Render(List<string> lines, SortedSet<int> indexes)
    {
        var result = new List<string>(Math.Min(indexes.Count, MaxEvidenceLines));
        foreach (var i in indexes)
        {
            if (result.Count == MaxEvidenceLines) break;
            var t = lines[i].Trim();
            if (t.Length == 0) continue;
            // The last frame before an error's properties ends in " {".
            if (t.EndsWith(" {", StringComparison.Ordinal) && IsFrame(lines[i])) t = t[..^2];
            if (t.Length > MaxEvidenceLineLength) t = string.Concat(t.AsSpan(0, MaxEvidenceLineLength - 1), "…");
            result.Add(t);
        }
        return result;
    }
}
