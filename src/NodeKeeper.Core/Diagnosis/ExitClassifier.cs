using NodeKeeper.Core.Supervision;
using static NodeKeeper.Core.Diagnosis.StderrLines;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>A diagnosis and the row of <see cref="ExitSignatures"/> that decided it (null when none did).</summary>
internal sealed record Verdict(ExitDiagnosis Diagnosis, string? Signature);

/// <summary>
/// Decides why a Node.js process ended from its exit code or signal and the tail of its stderr, by walking the tables
/// of <see cref="ExitSignatures"/>. Pure and allocation-light: linear string scanning only (NativeAOT-friendly, no regex
/// backtracking).
/// </summary>
/// <remarks>
/// The stderr tail is cut into "blocks", each starting at an error header (<see cref="ErrorHeaders"/>). The LAST block is
/// taken as the fatal one (<see cref="FatalBlock"/>); its header and property lines, not its stack frames, are searched
/// for the specific causes. Without any block, the last few lines are searched.
/// </remarks>
public static class ExitClassifier
{
    /// <summary>The most lines <see cref="ExitDiagnosis.Evidence"/> holds.</summary>
    public const int MaxEvidenceLines = 8;

    /// <summary>
    /// Evidence lines longer than this are cut (with an ellipsis, which counts): the one limit for an evidence line,
    /// wherever one is kept or shown (see <see cref="Clip"/>).
    /// </summary>
    public const int MaxEvidenceLineLength = 400;

    private const int MaxFrames = 3;
    private const int FallbackLines = 20;

    /// <summary>Cuts one evidence line to <see cref="MaxEvidenceLineLength"/> characters, the last one an ellipsis.</summary>
    public static string Clip(string line) =>
        line.Length <= MaxEvidenceLineLength ? line : string.Concat(line.AsSpan(0, MaxEvidenceLineLength - 1), "…");

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
    public static ExitDiagnosis Classify(int? code, string? signal, string stderrTail, bool signalSentByNodeKeeper = false, bool kernelOomKill = false) =>
        Judge(code, signal, stderrTail, signalSentByNodeKeeper, kernelOomKill).Diagnosis;

    /// <summary><see cref="Classify"/>, telling which row decided.</summary>
    internal static Verdict Judge(int? code, string? signal, string stderrTail, bool signalSentByNodeKeeper = false, bool kernelOomKill = false)
    {
        var status = new ExitStatus(code, NormalizeSignal(signal), signalSentByNodeKeeper, kernelOomKill);
        foreach (var s in ExitSignatures.Statuses)
            if (s.Matches(status))
                return new Verdict(new ExitDiagnosis(s.Reason, s.Cause, []), s.Name);

        var lines = SplitLines(stderrTail ?? "");
        var found = FatalBlock.Last(lines) is { } block ? FromBlock(block) : FromLastLines(lines);

        if (status.Signal is not null)
        {
            // Killed by its own abort/segfault: a heap OOM, a specific cause or a fatal JS error printed just before the
            // abort (--abort-on-uncaught-exception) says more than "native crash"; an error the app merely logged does not.
            if (found is null || found.Diagnosis.Cause == ExitCauses.LoggedError)
                return new Verdict(new ExitDiagnosis(ExitReasons.Signal, ExitCauses.NativeCrash, LastNonEmpty(lines, 3)), null);
            if (found.Diagnosis is { Reason: ExitReasons.Crash, Cause: ExitCauses.NativeCrash })
                return found with { Diagnosis = found.Diagnosis with { Reason = ExitReasons.Signal } };
            return found;
        }
        return found ?? new Verdict(new ExitDiagnosis(ExitReasons.Crash, null, LastNonEmpty(lines, 3)), null);
    }

    private static string? NormalizeSignal(string? signal)
    {
        if (string.IsNullOrWhiteSpace(signal)) return null;
        var s = signal.Trim().ToUpperInvariant();
        return s.StartsWith("SIG", StringComparison.Ordinal) ? s : "SIG" + s;
    }

    // ------------------------------------------------------------------ the fatal block

    private static Verdict FromBlock(FatalBlock b)
    {
        var lines = b.Lines;
        var evidence = new SortedSet<int> { b.Header };

        // The best-ranked signature on a non-frame line.
        LineSignature? best = null;
        var bestLine = -1;
        for (var i = b.Header; i < b.End; i++)
        {
            if (IsFrame(lines[i])) continue;
            var sig = ExitSignatures.Match(lines[i]);
            if (sig is not null && (best is null || sig.Rank < best.Rank))
            {
                best = sig;
                bestLine = i;
            }
        }

        ExitDiagnosis diagnosis;
        string name;
        if (best is not null)
        {
            var cause = best.Hint is { } hint && (Wording.AnyIn(hint.InLine, lines[bestLine]) || Shows(b, hint)) ? hint.Cause : best.Cause;
            if (bestLine != b.Header) evidence.Add(bestLine);
            AddEvidence(b, best.Evidence, evidence);
            (diagnosis, name) = (new ExitDiagnosis(best.Reason, cause, Render(lines, evidence)), best.Name);
        }
        else
        {
            var generic = ExitSignatures.Blocks.First(s => s.Matches(b));
            AddEvidence(b, generic.Evidence, evidence);
            (diagnosis, name) = (new ExitDiagnosis(generic.Reason, generic.Cause, Render(lines, evidence)), generic.Name);
        }
        return new Verdict(diagnosis, name);
    }

    /// <summary>Whether a line after the header, or a frame, of the block shows the hint.</summary>
    private static bool Shows(FatalBlock b, CauseHint hint)
    {
        for (var i = b.Header; i < b.End; i++)
        {
            var line = b.Lines[i];
            if (IsFrame(line) ? Wording.AnyIn(hint.InFrame, line) : i > b.Header && Wording.AnyIn(hint.InLine, line)) return true;
        }
        return false;
    }

    /// <summary>The header (already in), what the deciding row adds, then the layout of the header's kind.</summary>
    private static void AddEvidence(FatalBlock b, EvidenceRule? rule, SortedSet<int> evidence)
    {
        var lines = b.Lines;
        var h = b.Header;
        if (b.Kind == HeaderKind.ThrownValue)
        {
            // Where it was thrown (location and source line before the caret), then the value (up to 3 lines).
            var caret = FindCaretBefore(lines, h);
            if (caret >= 2 && EndsWithLineNumber(lines[caret - 2])) evidence.Add(caret - 2);
            if (caret >= 1) evidence.Add(caret - 1);
            for (var i = h + 1; i < b.End && i < h + 3; i++)
            {
                if (lines[i].StartsWith(ErrorHeaders.TraceUncaughtHint, StringComparison.Ordinal)) break;
                if (!IsBlank(lines[i])) evidence.Add(i);
            }
            return;
        }

        rule?.Invoke(b, evidence);

        if (b.IsNativeReport)
        {
            // Node 20+ prints the assertion over two "  #  " lines: where, then the condition.
            if (h > 0 && b.Kind == HeaderKind.Native)
            {
                var prev = lines[h - 1].AsSpan().Trim();
                if (prev.StartsWith("#", StringComparison.Ordinal) && !prev.TrimStart('#').IsWhiteSpace()) evidence.Add(h - 1);
            }
            return;
        }

        // The error's own first frames (not those under "Emitted 'error' event ... at:"), plus the first frame in the
        // app's own code when those are all Node's.
        var frames = 0;
        var sawUserFrame = false;
        for (var i = h + 1; i < b.End && evidence.Count < MaxEvidenceLines; i++)
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

    // ------------------------------------------------------------------ no block: the last lines

    private static Verdict? FromLastLines(List<string> lines)
    {
        var seen = 0;
        for (var i = lines.Count - 1; i >= 0 && seen < FallbackLines; i--)
        {
            if (IsBlank(lines[i])) continue;
            seen++;
            if (IsFrame(lines[i])) continue;
            if (ExitSignatures.Match(lines[i]) is { } sig)
                return new Verdict(new ExitDiagnosis(sig.Reason, sig.CauseOf(lines[i]), Render(lines, new SortedSet<int> { i })), sig.Name);
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
            result.Add(Clip(t));
        }
        return result;
    }
}
