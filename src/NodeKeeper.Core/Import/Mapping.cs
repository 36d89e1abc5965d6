using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>
/// What one group of PM2 options becomes: lines of the [[app]] table, items of its log table, notes about the options
/// that were not carried over (keyed by the option, so they can follow the order written), and the options the group
/// read, so that what no group read is listed as left over. Each mapping function fills its own and returns it.
/// </summary>
internal sealed class Mapping(Pm2App app)
{
    public List<string> Lines { get; } = [];
    public List<string> Log { get; } = [];
    public List<(string Key, string Text)> Notes { get; } = [];
    public HashSet<string> Used { get; } = new(StringComparer.Ordinal);

    public void Line(string key, string value) => Lines.Add($"{key} = {value}");

    public void Note(string key, string text) => Notes.Add((key, text));

    /// <summary>Reads an option, which counts as used whether or not it is set.</summary>
    public bool Take(string key, out JsonElement value)
    {
        Used.Add(key);
        return app.TryGet(key, out value);
    }

    /// <summary>The first of several spellings that is set (only that one counts as used).</summary>
    public (string? Key, JsonElement Value) First(IEnumerable<string> keys)
    {
        foreach (var key in keys)
        {
            if (app.TryGet(key, out var v))
            {
                Used.Add(key);
                return (key, v);
            }
        }
        return (null, default);
    }

    /// <summary>The first spelling that is set, as a non-empty string; another kind of value is noted as invalid.</summary>
    public (string? Key, string? Value) FirstString(IEnumerable<string> keys)
    {
        var (key, v) = First(keys);
        if (key is null) return (null, null);
        if (v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0 && !v.GetString()!.Contains('\0')) return (key, v.GetString());
        Invalid(key, v, "a non-empty string");
        return (null, null);
    }

    /// <summary>A string (split like a command line when <paramref name="splitString"/>) or an array of strings, numbers or booleans.</summary>
    public List<string>? StringList(string key, bool splitString)
    {
        if (!Take(key, out var v)) return null;
        List<string>? items = null;
        if (v.ValueKind == JsonValueKind.String) items = splitString ? EcosystemImporter.SplitArgs(v.GetString()!) : [v.GetString()!];
        else if (v.ValueKind == JsonValueKind.Array)
        {
            items = [];
            foreach (var item in v.EnumerateArray())
            {
                string? text = item.ValueKind switch
                {
                    JsonValueKind.String => item.GetString(),
                    JsonValueKind.Number => item.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => null,
                };
                if (text is null)
                {
                    items = null;
                    break;
                }
                items.Add(text);
            }
        }
        if (items is null || items.Any(i => i.Contains('\0')))
        {
            Invalid(key, v, "a string or an array of strings");
            return null;
        }
        if (items.Any(i => i.Length == 0))
        {
            Note(key, $"{key}: its empty strings are left out: NodeKeeper takes no empty arguments");
            items.RemoveAll(i => i.Length == 0);
        }
        return items;
    }

    /// <summary>
    /// PM2's milliseconds (a number, or digits), or a string with a unit ("5s", "2m", "1h"). With
    /// <paramref name="positiveOr"/> (the key's default) NodeKeeper needs more than 0, and a 0 is left to that default.
    /// </summary>
    public TimeSpan? Duration(string key, TimeSpan? positiveOr = null)
    {
        if (!Take(key, out var v)) return null;
        TimeSpan? value = null;
        if (Pm2App.Whole(v, out var ms) && ms >= 0) value = TimeSpan.FromMilliseconds(ms);
        else if (v.ValueKind == JsonValueKind.String && Config.Duration.TryParse(v.GetString()!, out var d, out _)) value = d;
        if (value is null || value < TimeSpan.Zero)
        {
            Invalid(key, v, "a number of milliseconds");
            return null;
        }
        if (positiveOr is { } fallback && value == TimeSpan.Zero)
        {
            Note(key, $"{key} = 0 is not mapped: NodeKeeper needs more than 0 (the default, {Config.Duration.Format(fallback)}, is used)");
            return null;
        }
        return value;
    }

    public void Invalid(string key, JsonElement v, string expected)
    {
        var shown = v.ValueKind == JsonValueKind.String ? TomlText.String(v.GetString()!) : v.GetRawText();
        if (shown.Length > 60) shown = shown[..57] + "...";
        Note(key, $"{key} is not mapped: {Pm2App.OneLine(shown)} is not {expected}");
    }

    /// <summary>A TOML string value.</summary>
    public static string S(string s) => TomlText.String(s);

    /// <summary>A TOML duration value, such as "1.5s".</summary>
    public static string D(TimeSpan t) => S(Config.Duration.Format(t));
}
