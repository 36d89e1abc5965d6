namespace NodeKeeper.Core.Config;

/// <summary>Collects the errors of one load; positions are in the config file unless given a file.</summary>
internal sealed class ConfigErrors(string file)
{
    private readonly List<ConfigError> _errors = [];

    public string File { get; } = file;
    public int Count => _errors.Count;

    public void Add(Pos pos, string message) => _errors.Add(new ConfigError(File, pos.Line, pos.Column, OneLine(message)));

    public void Add(ConfigError error) => _errors.Add(error with { Message = OneLine(error.Message) });

    /// <summary>Every error prints as one line, whatever text a message quotes.</summary>
    private static string OneLine(string message) =>
        message.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

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
