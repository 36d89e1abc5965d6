namespace NodeKeeper.Core.Config;

/// <summary>
/// What may name an app, decided once for the loader, the daemon (whatever a client sends) and nk import: a name
/// becomes file names (the default log files), log lines and an argument of nk, so it is 1 to 64 letters, digits,
/// ".", "_" or "-", and none of the few such names nk would read as something else.
/// </summary>
public static class AppNames
{
    public const int MaxLength = 64;

    /// <summary>The shape of every name, as the errors say it.</summary>
    public const string Shape = "1 to 64 letters, digits, \".\", \"_\" or \"-\"";

    /// <summary>The one-line error the loader prints for <paramref name="name"/> as the value of `name`, or null when it can name an app.</summary>
    public static string? Validate(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or > MaxLength || !name.All(Allowed))
            return $"name must be {Shape}, got {Text.Quote(name)}";
        return Reserved(name) is { } why ? $"name {Text.Quote(name)} cannot name an app: {why}" : null;
    }

    /// <summary>
    /// A name that <see cref="Validate"/> accepts, as close to <paramref name="name"/> as it can be: other characters
    /// become "-", it is cut to 64, leading dashes go, and what is left that nk would misread is named "app" or "app-all".
    /// </summary>
    public static string MakeValid(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var mapped = new string(name.Select(c => Allowed(c) ? c : '-').ToArray());
        if (mapped.Length > MaxLength) mapped = mapped[..MaxLength];
        mapped = mapped.TrimStart('-');
        if (mapped.Length == 0 || mapped.All(c => c == '.')) return "app";
        return mapped == "all" ? "app-all" : mapped;
    }

    private static bool Allowed(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';

    /// <summary>Why nk would read <paramref name="name"/> as something else than an app, or null.</summary>
    public static string? Reserved(string name) =>
        name.Length == 0 ? null
        : name.All(c => c == '.') ? "a name made only of dots reads as a path"
        : name[0] == '-' ? "it would read as an option of nk (names must not start with \"-\")"
        : name == "all" ? "\"all\" means every app to nk stop, restart, reload and delete"
        : null;
}
