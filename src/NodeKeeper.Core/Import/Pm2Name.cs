using System.Globalization;
using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>name and append_env_to_name: the app's name as written, or derived from its script as PM2 derives it.</summary>
internal static class Pm2Name
{
    /// <param name="Name">Valid (<see cref="AppNames"/>) and not among the names taken; null when there is none to give.</param>
    /// <param name="Error">Why the app cannot be imported (a name of the wrong kind), or null.</param>
    public sealed record Result(Mapping Mapping, string? Name, string? Error);

    public static Result Map(Pm2App app, string? script, IReadOnlySet<string> taken)
    {
        var m = new Mapping(app);
        string? written = null;
        if (m.Take("name", out var v))
        {
            if (v.ValueKind == JsonValueKind.String) written = v.GetString();
            else if (v.ValueKind == JsonValueKind.Number) written = v.GetRawText();
            else return new Result(m, null, $"name must be a string, got {Pm2App.Kind(v)}");
        }
        bool derived = string.IsNullOrEmpty(written);
        string? name = derived ? Derive(script) : written;
        if (name is null) return new Result(m, null, null); // no script either: the caller reports it
        if (m.Take("append_env_to_name", out var append) && append.ValueKind == JsonValueKind.True && app.Options.EnvName is { } envName)
            name += "-" + envName;

        var unique = Unique(AppNames.MakeValid(name), taken);
        if (derived)
            m.Note("name", $"it has no name: named {TomlText.String(unique)} after its script, as PM2 names it");
        else if (unique != name)
            m.Note("name", $"name {TomlText.String(name)} is written as {TomlText.String(unique)}: {AppNames.Reserved(name) ?? "NodeKeeper names are unique, " + AppNames.Shape}");
        return new Result(m, unique, null);
    }

    /// <summary>As PM2 names an app without a name: its script's file name without the extension.</summary>
    private static string? Derive(string? script)
    {
        if (string.IsNullOrEmpty(script)) return null;
        var name = Path.GetFileName(script.TrimEnd('/'));
        int dot = name.LastIndexOf('.');
        if (dot > 0) name = name[..dot];
        return name.Length > 0 ? name : null;
    }

    /// <summary><paramref name="valid"/>, or with the first "-N" (N from 2) that makes it a name not taken yet.</summary>
    private static string Unique(string valid, IReadOnlySet<string> taken)
    {
        var unique = valid;
        for (int n = 2; taken.Contains(unique); n++)
        {
            var suffix = "-" + n.ToString(CultureInfo.InvariantCulture);
            unique = (valid.Length + suffix.Length > AppNames.MaxLength ? valid[..(AppNames.MaxLength - suffix.Length)] : valid) + suffix;
        }
        return unique;
    }
}
