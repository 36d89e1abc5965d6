using static NodeKeeper.Core.Diagnosis.StderrLines;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>What kind of error report a line starts.</summary>
internal enum HeaderKind { None, Error, Fatal, Native, ThrownValue, UnhandledRejectionLog }

/// <summary>
/// Finds the lines that start an error report ("headers"): <c>TypeError: ...</c>, <c>Error [CODE]: ...</c>,
/// <c>FATAL ERROR: ...</c>, a native assertion, a thrown non-Error value, an app's "Unhandled Rejection" log.
/// </summary>
internal static class ErrorHeaders
{
    /// <summary>Node's hint after a thrown non-Error value.</summary>
    public const string TraceUncaughtHint = "(Use `node --trace-uncaught";

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

    /// <summary>The index of every header, in order.</summary>
    public static List<(int Index, HeaderKind Kind)> FindHeaders(List<string> lines)
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

    /// <summary>The first line of a thrown value's printout: after the caret line, else the last line before the hint.</summary>
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
}
