namespace NodeKeeper.Core.Config;

/// <summary>Collects the errors of one load; positions are in the config file unless given a file.</summary>
internal sealed class ConfigErrors(string file)
{
    private readonly List<ConfigError> _errors = [];

    public string File { get; } = file;
    public int Count => _errors.Count;

    public void Add(Pos pos, string message) => _errors.Add(new ConfigError(File, pos.Line, pos.Column, OneLine(message)));

    public void Add(ConfigError error) => _errors.Add(error with { Message = OneLine(error.Message) });

    /// <summary>The longest message kept: the parser quotes whole tokens, and a token may be a megabyte long.</summary>
    private const int MaxMessage = 500;

    /// <summary>
    /// Every error prints as one short line, whatever text a message quotes: line breaks and other control
    /// characters (a terminal would act on an escape sequence) are written as escapes, and a long message is cut.
    /// </summary>
    private static string OneLine(string message)
    {
        bool clean = message.Length <= MaxMessage;
        foreach (var c in message)
        {
            if (char.IsControl(c) && c != '\t') { clean = false; break; }
        }
        if (clean) return message;
        var sb = new System.Text.StringBuilder(Math.Min(message.Length, MaxMessage + 8));
        foreach (var c in message)
        {
            if (sb.Length >= MaxMessage)
            {
                if (char.IsHighSurrogate(sb[^1])) sb.Length--;
                sb.Append('…');
                break;
            }
            if (c == '\r') sb.Append("\\r");
            else if (c == '\n') sb.Append("\\n");
            else if (char.IsControl(c) && c != '\t') sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Config-file errors by position, then errors in other files (env files) by file and position.</summary>
    public IReadOnlyList<ConfigError> Sorted() =>
        _errors
            .Distinct()
            .OrderBy(e => e.File == File ? 0 : 1)
            .ThenBy(e => e.File == File ? "" : e.File, StringComparer.Ordinal)
            .ThenBy(e => e.Line)
            .ThenBy(e => e.Column)
            .ToArray();
}
