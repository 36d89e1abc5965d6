using System.Text;

namespace NodeKeeper.Core.Config;

/// <summary>
/// Reads dotenv text: <c>KEY=VALUE</c> lines, <c># comments</c>, blank lines, an optional
/// <c>export </c> prefix, and values that are bare (a <c> #</c> starts a comment), single-quoted
/// (taken literally) or double-quoted (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\"</c> and <c>\\</c> are
/// escapes). A later line for the same key wins. Quoted values do not span lines.
/// </summary>
public static class DotEnv
{
    /// <summary>The largest env file read (as a config file): /dev/zero or a runaway file must not exhaust memory.</summary>
    public const int MaxFileBytes = 16 << 20;

    /// <summary>
    /// Parses <paramref name="text"/>; each malformed line gives an error
    /// <c>displayPath:line:1: …</c> and is skipped. Never throws.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Parse(string text, string displayPath, out IReadOnlyList<ConfigError> errors)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var found = new List<ConfigError>();
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];

        var lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            var error = ParseLine(lines[n].TrimEnd('\r'), values);
            if (error is not null) found.Add(new ConfigError(displayPath, n + 1, 1, error));
        }
        errors = found;
        return values;
    }

    private static string? ParseLine(string line, Dictionary<string, string> values)
    {
        var rest = line.Trim();
        if (rest.Length == 0 || rest[0] == '#') return null;
        if (rest.StartsWith("export ", StringComparison.Ordinal) || rest.StartsWith("export\t", StringComparison.Ordinal))
            rest = rest[7..].TrimStart();

        int eq = rest.IndexOf('=');
        // An env file holds secrets (a PEM key pasted in by mistake, a token): what is wrong is said, the text never
        // quoted, since errors reach the terminal, daemon.log and the journal.
        if (eq < 0) return "expected KEY=VALUE, got a line without \"=\" (its text is not shown: an env file may hold secrets)";
        var key = rest[..eq].Trim();
        if (!IsValidKey(key)) return "the text before \"=\" is not a valid variable name (letters, digits, \"_\", \".\" or \"-\", not starting with a digit)";

        var raw = rest[(eq + 1)..].TrimStart();
        string? value;
        string? error;
        if (raw.Length > 0 && raw[0] is '"' or '\'')
            (value, error) = Quoted(raw, key);
        else
            (value, error) = (Bare(raw), null);
        if (error is not null) return error;
        if (value!.Contains('\0')) return $"the value of {key} contains a NUL character";
        values[key] = value;
        return null;
    }

    private static bool IsValidKey(string key) =>
        key.Length > 0
        && (char.IsAsciiLetter(key[0]) || key[0] == '_')
        && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    private static string Bare(string raw)
    {
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '#' && i > 0 && raw[i - 1] is ' ' or '\t') return raw[..i].TrimEnd();
        }
        return raw.TrimEnd();
    }

    private static (string? Value, string? Error) Quoted(string raw, string key)
    {
        char quote = raw[0];
        var sb = new StringBuilder();
        int i = 1;
        bool closed = false;
        for (; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c == quote) { closed = true; i++; break; }
            if (c == '\\' && quote == '"' && i + 1 < raw.Length)
            {
                char next = raw[++i];
                sb.Append(next switch
                {
                    'n' => "\n",
                    'r' => "\r",
                    't' => "\t",
                    '"' => "\"",
                    '\\' => "\\",
                    _ => "\\" + next,
                });
                continue;
            }
            sb.Append(c);
        }
        if (!closed) return (null, $"the value of {key} has no closing {quote}");
        var after = raw[i..].TrimStart();
        if (after.Length > 0 && after[0] != '#')
            return (null, $"unexpected text after the quoted value of {key}");
        return (sb.ToString(), null);
    }
}
