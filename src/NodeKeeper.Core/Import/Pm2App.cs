using System.Globalization;
using System.Text.Json;

namespace NodeKeeper.Core.Import;

/// <summary>One app object of an ecosystem file, read-only: its options by name (the first of a repeated name wins).</summary>
internal sealed class Pm2App
{
    private readonly Dictionary<string, JsonElement> _props = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _order = new(StringComparer.Ordinal);

    public Pm2App(JsonElement app, ImportOptions options)
    {
        foreach (var p in app.EnumerateObject())
        {
            if (_props.TryAdd(p.Name, p.Value)) _order[p.Name] = _order.Count;
        }
        Options = options;
    }

    public ImportOptions Options { get; }

    /// <summary>Every option as written, null ones included, in the order written.</summary>
    public IEnumerable<KeyValuePair<string, JsonElement>> All => _props;

    public bool Has(string key) => _props.ContainsKey(key);

    /// <summary>The option's value when it is set and not null; else false, with a value of kind Undefined.</summary>
    public bool TryGet(string key, out JsonElement value)
    {
        if (_props.TryGetValue(key, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    /// <summary>Where <paramref name="key"/> stands among the options: the notes follow it (one about the unwritten name first, others last).</summary>
    public int Position(string key) => _order.TryGetValue(key, out var i) ? i : key == "name" ? -1 : int.MaxValue;

    /// <summary>A leading "~" expanded as PM2 expands it, when the home folder is known.</summary>
    public string Home(string path) =>
        Options.HomeDirectory is { } home && (path == "~" || path.StartsWith("~/", StringComparison.Ordinal)) ? home + path[1..] : path;

    /// <summary>How a message names the kind of a JSON value.</summary>
    public static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>A whole number, as a JSON number or a string of digits (with a sign).</summary>
    public static bool Whole(JsonElement v, out long n)
    {
        n = 0;
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt64(out n)) return true;
            if (v.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 1e15)
            {
                n = (long)d;
                return true;
            }
            return false;
        }
        return v.ValueKind == JsonValueKind.String
            && long.TryParse(v.GetString()!.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n);
    }

    /// <summary>Text for a one-line comment or message: control characters shown as spaces.</summary>
    public static string OneLine(string s) => new(s.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
}
