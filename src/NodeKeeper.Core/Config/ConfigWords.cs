namespace NodeKeeper.Core.Config;

/// <summary>
/// The word nodekeeper.toml uses for each value of a config enum, one table per enum: the loader parses with it, and
/// nk import, nk describe and the daemon's messages print with it, so a word is never spelled in two places.
/// </summary>
public static class ConfigWords
{
    public static readonly WordTable<RestartMode> Restart =
        new((RestartMode.Always, "always"), (RestartMode.OnFailure, "on-failure"), (RestartMode.Never, "never"));

    public static readonly WordTable<PortMode> PortMode =
        new((Config.PortMode.Shared, "shared"), (Config.PortMode.Increment, "increment"));

    public static readonly WordTable<ReadyMode> Ready =
        new((ReadyMode.Listen, "listen"), (ReadyMode.Message, "message"), (ReadyMode.Spawn, "spawn"), (ReadyMode.Health, "health"));

    public static readonly WordTable<NotReadyAction> NotReady =
        new((NotReadyAction.Kill, "kill"), (NotReadyAction.Online, "online"));

    public static readonly WordTable<LogFormat> LogFormat =
        new((Config.LogFormat.Text, "text"), (Config.LogFormat.Json, "json"));

    public static string Word(this RestartMode value) => Restart.Word(value);
    public static string Word(this NotReadyAction value) => NotReady.Word(value);
    public static string Word(this PortMode value) => PortMode.Word(value);
    public static string Word(this ReadyMode value) => Ready.Word(value);
    public static string Word(this LogFormat value) => LogFormat.Word(value);
}

/// <summary>The words of one enum, in the order the config's messages list them.</summary>
public sealed class WordTable<T> where T : struct, Enum
{
    private readonly (T Value, string Word)[] _entries;

    public WordTable(params (T Value, string Word)[] entries)
    {
        _entries = entries;
        Words = entries.Select(e => e.Word).ToArray();
    }

    /// <summary>Every word, in table order.</summary>
    public IReadOnlyList<string> Words { get; }

    public string Word(T value)
    {
        foreach (var (v, word) in _entries)
            if (EqualityComparer<T>.Default.Equals(v, value)) return word;
        throw new ArgumentOutOfRangeException(nameof(value), value, $"no word for this {typeof(T).Name}");
    }

    /// <summary>The value of <paramref name="word"/> (exact, as TOML values are case-sensitive); false when it names none.</summary>
    public bool TryParse(string word, out T value)
    {
        foreach (var (v, w) in _entries)
        {
            if (w == word)
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }
}
