using System.Text;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>How a stderr tail reads as lines, and what kind of line each is (a JS frame, a native frame, a caret...).</summary>
internal static class StderrLines
{
    /// <summary>Splits into lines, dropping ANSI escape sequences and control characters; a lone CR starts the line over
    /// (as a terminal would show it). Trailing whitespace is removed.</summary>
    public static List<string> SplitLines(string text)
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

    public static bool IsBlank(string line) => line.Length == 0 || string.IsNullOrWhiteSpace(line);

    public static bool IsIndented(string line) => line.Length > 0 && char.IsWhiteSpace(line[0]);

    /// <summary>A JS stack frame: "    at f (file:1:2)".</summary>
    public static bool IsFrame(string line) =>
        IsIndented(line) && line.AsSpan().TrimStart().StartsWith("at ", StringComparison.Ordinal);

    /// <summary>A line of a native stack trace: "12: 0x10b7e4a v8::internal::...".</summary>
    public static bool IsNativeFrame(string line)
    {
        var t = line.AsSpan().TrimStart();
        var k = 0;
        while (k < t.Length && char.IsAsciiDigit(t[k])) k++;
        return k > 0 && t[k..].StartsWith(": 0x", StringComparison.Ordinal);
    }

    public static bool IsNodeTrailer(string line) =>
        line.StartsWith("Node.js v", StringComparison.Ordinal) && line.Length > 9 && char.IsAsciiDigit(line[9]);

    public static bool IsCaretLine(string line)
    {
        var t = line.AsSpan().Trim();
        if (t.IsEmpty) return false;
        foreach (var c in t)
            if (c != '^')
                return false;
        return true;
    }

    /// <summary>"file.js:12": the location line of Node's fatal report.</summary>
    public static bool EndsWithLineNumber(string line)
    {
        var colon = line.LastIndexOf(':');
        if (colon < 0 || colon == line.Length - 1) return false;
        for (var k = colon + 1; k < line.Length; k++)
            if (!char.IsAsciiDigit(line[k]))
                return false;
        return true;
    }

    /// <summary>A frame in the app's code rather than in Node's (<c>node:internal/...</c>) or V8's (<c>(&lt;anonymous&gt;)</c>).</summary>
    public static bool IsUserFrame(string frame) =>
        !frame.Contains("(node:", StringComparison.Ordinal) && !frame.Contains("at node:", StringComparison.Ordinal) &&
        !frame.Contains("(<anonymous>)", StringComparison.Ordinal);
}
