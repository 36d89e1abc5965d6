using System.Buffers;
using System.Text;
using Tomlyn;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace NodeKeeper.Core.Config;

/// <summary>
/// Loads nodekeeper.toml from its text. Pure: the only outside reads go through
/// <see cref="LoadContext"/> (env files, CPU count, log folder). Every problem becomes a
/// <see cref="ConfigError"/> with the file, line and column of the offending key or value; all of
/// them are reported, sorted by position, and any error means no config.
/// </summary>
public static class ConfigLoader
{
    private static readonly string[] TopLevelKeys = ["daemon", "defaults", "app"];
    private static readonly string[] DaemonKeys = ["http"];

    /// <summary>Parses and validates a whole config.</summary>
    /// <param name="text">The file's text (a UTF-8 BOM and CRLF line ends are fine).</param>
    /// <param name="displayPath">How messages name the file, e.g. "nodekeeper.toml".</param>
    /// <param name="configDirectory">Absolute folder that relative paths resolve against.</param>
    /// <param name="ctx">What loading needs from the world.</param>
    public static ConfigResult Load(string text, string displayPath, string configDirectory, LoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(displayPath);
        ArgumentNullException.ThrowIfNull(ctx);
        if (!Path.IsPathFullyQualified(configDirectory))
            throw new ArgumentException($"configDirectory must be an absolute path, got \"{configDirectory}\"", nameof(configDirectory));

        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var errors = new ConfigErrors(displayPath);
        var doc = ParseSyntax(text, displayPath, errors);
        if (doc is null) return new ConfigResult(null, errors.Sorted());

        var root = TomlTree.Build(doc, errors);
        var values = new ValueReader(errors);
        var reader = new AppReader(values, displayPath, configDirectory, ctx);

        DaemonSpec daemon = new(null);
        RawApp? defaults = null;
        TEntry? appEntry = null;
        foreach (var entry in root.Entries)
        {
            switch (entry.Key)
            {
                case "daemon":
                    daemon = ReadDaemon(entry, values);
                    break;
                case "defaults":
                    if (values.Table(entry, "defaults", "[defaults]", out var defaultsTable))
                        defaults = reader.Read(defaultsTable, isDefaults: true);
                    break;
                case "app":
                    appEntry = entry;
                    break;
                default:
                    values.UnknownKey(entry, "at the top level", TopLevelKeys);
                    break;
            }
        }

        var apps = new List<AppSpec>();
        var appTables = AppTables(appEntry, values);
        if (appTables is { Count: 0 })
            errors.Add(appEntry?.KeyPos ?? new Pos(1, 1), "no apps: add at least one [[app]] with a name and a script");

        var builder = new AppBuilder(errors, configDirectory, ctx);
        var firstUse = new Dictionary<string, Pos>(StringComparer.Ordinal);
        foreach (var table in appTables ?? [])
        {
            var raw = reader.Read(table, isDefaults: false);
            if (raw.Name is { } name)
            {
                if (firstUse.TryGetValue(name.Value, out var first))
                    errors.Add(name.Pos, $"duplicate app name {Text.Quote(name.Value)} (first used at {first.Line}:{first.Column})");
                else firstUse[name.Value] = name.Pos;
            }
            if (builder.Build(raw, defaults) is { } app) apps.Add(app);
        }

        if (errors.Count > 0) return new ConfigResult(null, errors.Sorted());
        var fileName = Path.GetFileName(displayPath);
        var fullPath = ConfigPaths.Resolve(configDirectory, fileName.Length > 0 ? fileName : "nodekeeper.toml");
        return new ConfigResult(new NodeKeeperConfig(fullPath, daemon, apps), []);
    }

    /// <summary>
    /// Loads a config from the bytes of its file. TOML is UTF-8 (a BOM is fine): a byte sequence that is not
    /// UTF-8 is an error at its line and column, where reading the file as text would have turned it into
    /// U+FFFD silently (inside a script path or an env value too).
    /// </summary>
    public static ConfigResult LoadUtf8(byte[] bytes, string displayPath, string configDirectory, LoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(displayPath);
        ReadOnlySpan<byte> span = bytes;
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        if (InvalidUtf8(span) is { } bad)
            return new ConfigResult(null, [new ConfigError(displayPath, bad.Pos.Line, bad.Pos.Column,
                $"the file is not UTF-8 (byte 0x{bad.Byte:X2} here): TOML files must be saved as UTF-8")]);
        return Load(Encoding.UTF8.GetString(span), displayPath, configDirectory, ctx);
    }

    /// <summary>Where the first byte that is not UTF-8 is (column in characters, as editors count), or null.</summary>
    private static (Pos Pos, byte Byte)? InvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int line = 1, column = 1;
        for (int i = 0; i < bytes.Length;)
        {
            if (Rune.DecodeFromUtf8(bytes[i..], out var rune, out int consumed) != OperationStatus.Done)
                return (new Pos(line, column), bytes[i]);
            i += consumed;
            if (rune.Value == '\n') { line++; column = 1; }
            else column++;
        }
        return null;
    }

    /// <summary>Tomlyn's syntax tree, or null after recording its diagnostics as errors.</summary>
    private static DocumentSyntax? ParseSyntax(string text, string displayPath, ConfigErrors errors)
    {
        // Tomlyn 2.10.2 throws ArgumentOutOfRangeException on a backslash at the very end of the input
        // (inside an unterminated string). A final newline changes no TOML meaning and no position.
        if (!text.EndsWith('\n')) text += "\n";
        if (ItemBound.Overfull(text) is { } overfull)
        {
            errors.Add(overfull.Pos, overfull.Problem switch
            {
                ItemBound.Problem.TableKeys => $"this inline table has more than {ItemBound.MaxItems} keys, the most nk reads: write them under a [table] header",
                ItemBound.Problem.ArrayItems => $"this array has more than {ItemBound.MaxItems} items, the most nk reads",
                _ => $"arrays and inline tables are nested too deeply here (at most {ItemBound.MaxDepth} levels)",
            });
            return null;
        }
        DocumentSyntax doc;
        try
        {
            // Without Tomlyn's validation: TomlTree applies TOML's redefinition rules (see there why).
            doc = SyntaxParser.Parse(text, displayPath, validate: false);
        }
        catch (TomlException e)
        {
            // Tomlyn throws (without a position) only past its nesting limit, which ItemBound finds first with one.
            var message = e.Message.Contains("maximum depth", StringComparison.Ordinal)
                ? $"arrays and inline tables are nested too deeply (at most {ItemBound.MaxDepth} levels)"
                : SyntaxMessages.Describe(e.Message);
            errors.Add(new Pos(Math.Max(1, e.Line ?? 1), Math.Max(1, e.Column ?? 1)), message);
            return null;
        }
        if (!doc.HasErrors) return doc;
        // The first error only: after it Tomlyn reads the rest of the line as new keys and values (an unquoted
        // AKIA7EXAMPLE gave four errors), and an unclosed string shifts what it reads on the lines after, which says
        // nothing more and points at the wrong places.
        var first = doc.Diagnostics.Where(d => d.Kind == DiagnosticMessageKind.Error)
            .MinBy(d => (d.Span.Start.Line, d.Span.Start.Column))!;
        errors.Add(new Pos(first.Span.Start.Line + 1, first.Span.Start.Column + 1), SyntaxMessages.Describe(first.Message));
        return null;
    }

    /// <summary>The [[app]] tables; null (after an error) when "app" is not an array of tables.</summary>
    private static List<TTable>? AppTables(TEntry? entry, ValueReader values)
    {
        if (entry is null) return [];
        switch (entry.Value)
        {
            case TArray array:
                var tables = new List<TTable>();
                bool ok = true;
                for (int i = 0; i < array.Items.Count; i++)
                {
                    if (array.Items[i] is TTable t) tables.Add(t);
                    else
                    {
                        values.Fail(array.Items[i], $"app[{i}] must be a table with a name and a script, got {ValueReader.Got(array.Items[i])}");
                        ok = false;
                    }
                }
                return ok ? tables : null;
            case TTable { Inline: false }:
                values.Errors.Add(entry.KeyPos, "app must be an array of tables: write [[app]], not [app]");
                return null;
            default:
                values.Fail(entry.Value, $"app must be an array of tables ([[app]]), got {ValueReader.Got(entry.Value)}");
                return null;
        }
    }

    private static DaemonSpec ReadDaemon(TEntry entry, ValueReader values)
    {
        string? http = null;
        if (!values.Table(entry, "daemon", "[daemon]", out var table)) return new DaemonSpec(null);
        foreach (var item in table.Entries)
        {
            if (item.Key != "http")
            {
                values.UnknownKey(item, "in [daemon]", DaemonKeys);
                continue;
            }
            if (!values.String(item, "http", out var address)) continue;
            if (!HostPort.TryParse(address, out _, out _, out var error)) values.Fail(item.Value, $"http {error}, got {ValueReader.Got(item.Value)}");
            else http = address;
        }
        return new DaemonSpec(http);
    }
}
