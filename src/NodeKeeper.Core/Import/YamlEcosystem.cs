using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace NodeKeeper.Core.Import;

/// <summary>
/// A YAML ecosystem file (process.yml, as PM2 documents it) as the JSON of its object, read as PM2 reads it (js-yaml's
/// default schema, YAML 1.2's core one): a plain scalar is null (null, ~, nothing), a boolean (true, false in any of
/// their three spellings), an integer (decimal, 0x, 0o) or a float (1.5, 1e3, .inf, .nan), else a string; a quoted
/// scalar is always a string. Anchors and aliases are followed (YamlDotNet resolves them); a merge key is not needed
/// by PM2's files and is kept as a key. Pure: text in, JSON or one error line out.
/// </summary>
public static partial class YamlEcosystem
{
    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex Decimal();
    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    /// <summary>The document's JSON, or (null, "line L, column C: what is wrong").</summary>
    public static (string? Json, string? Error) ToJson(string yaml)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e) { return (null, $"line {e.Start.Line}, column {e.Start.Column}: {FirstLine(e.InnerException?.Message ?? e.Message)}"); }
        if (stream.Documents.Count == 0) return (null, "it holds no YAML document");
        if (stream.Documents.Count > 1) return (null, $"it holds {stream.Documents.Count} YAML documents (--- separators): PM2 reads one");
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            try { Write(w, stream.Documents[0].RootNode, 0); }
            catch (InvalidOperationException e) { return (null, e.Message); }
        }
        return (Encoding.UTF8.GetString(buffer.ToArray()), null);
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static void Write(Utf8JsonWriter w, YamlNode node, int depth)
    {
        if (depth > 64) throw new InvalidOperationException("it nests deeper than 64 levels (an alias that refers to itself?)");
        switch (node)
        {
            case YamlMappingNode map:
                w.WriteStartObject();
                foreach (var (key, value) in map.Children)
                {
                    w.WritePropertyName(key is YamlScalarNode k ? k.Value ?? "null" : throw new InvalidOperationException(
                        $"line {key.Start.Line}: a key that is not a plain value (a list or a table as a key)"));
                    Write(w, value, depth + 1);
                }
                w.WriteEndObject();
                break;
            case YamlSequenceNode seq:
                w.WriteStartArray();
                foreach (var item in seq.Children) Write(w, item, depth + 1);
                w.WriteEndArray();
                break;
            case YamlScalarNode scalar:
                Scalar(w, scalar);
                break;
            default:
                w.WriteNullValue();
                break;
        }
    }

    private static void Scalar(Utf8JsonWriter w, YamlScalarNode s)
    {
        var v = s.Value ?? "";
        if (s.Style is not (ScalarStyle.Plain or ScalarStyle.Any) || (s.Tag.IsGlobal && s.Tag.Value == "tag:yaml.org,2002:str"))
        {
            w.WriteStringValue(v);
            return;
        }
        switch (v)
        {
            case "" or "~" or "null" or "Null" or "NULL": w.WriteNullValue(); return;
            case "true" or "True" or "TRUE": w.WriteBooleanValue(true); return;
            case "false" or "False" or "FALSE": w.WriteBooleanValue(false); return;
        }
        if (Decimal().IsMatch(v) && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) w.WriteNumberValue(n);
        else if (v.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(v[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex)) w.WriteNumberValue(hex);
        else if (v.StartsWith("0o", StringComparison.Ordinal) && v.Length > 2 && v[2..].All(c => c is >= '0' and <= '7')) w.WriteNumberValue(Convert.ToInt64(v[2..], 8));
        else if (Float().IsMatch(v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && double.IsFinite(f)) w.WriteNumberValue(f);
        else w.WriteStringValue(v);
    }
}
