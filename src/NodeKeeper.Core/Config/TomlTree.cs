using Tomlyn.Syntax;

namespace NodeKeeper.Core.Config;

/// <summary>A 1-based line and column in the config file.</summary>
internal readonly record struct Pos(int Line, int Column)
{
    public static Pos Of(SyntaxNode? node) =>
        node is null ? new Pos(1, 1) : new Pos(node.Span.Start.Line + 1, node.Span.Start.Column + 1);
}

/// <summary>A value of the TOML document, with where it was written.</summary>
internal abstract class TNode
{
    public required Pos Pos { get; init; }
}

/// <summary>One key of a table: its name, where the key was written, and its value.</summary>
internal sealed record TEntry(string Key, Pos KeyPos, TNode Value);

/// <summary>A table: [header], [[header]] element, inline { }, or implied by a dotted key.</summary>
internal sealed class TTable : TNode
{
    public List<TEntry> Entries { get; } = [];
    public bool Inline { get; init; }
    public TEntry? Find(string key) => Entries.Find(e => e.Key == key);
}

/// <summary>An array, or the elements of an array of tables ([[header]]).</summary>
internal sealed class TArray : TNode
{
    public List<TNode> Items { get; } = [];
    public bool OfTables { get; init; }
}

internal enum ScalarKind { String, Integer, Float, Boolean, DateTime }

/// <summary>A string, number, boolean or date-time, with the text it was written as.</summary>
internal sealed class TScalar : TNode
{
    public required ScalarKind Kind { get; init; }
    public string String { get; init; } = "";
    public long Integer { get; init; }
    public double Float { get; init; }
    public bool Boolean { get; init; }
    /// <summary>The token as written (numbers, date-times).</summary>
    public string Source { get; init; } = "";
}

/// <summary>
/// Turns Tomlyn's syntax tree (already free of syntax and redefinition errors) into plain tables,
/// arrays and scalars that keep the position of every key and value. Headers, dotted keys and
/// inline tables all end up as <see cref="TTable"/>s, so validation needs no TOML knowledge.
/// </summary>
internal static class TomlTree
{
    public static TTable Build(DocumentSyntax doc)
    {
        var root = new TTable { Pos = new Pos(1, 1) };
        foreach (var kv in doc.KeyValues) AddKeyValue(root, kv);

        foreach (var header in doc.Tables)
        {
            var path = Segments(header.Name);
            if (path is null) continue;
            var headerPos = Pos.Of(header);
            var parent = root;
            for (int i = 0; i < path.Count - 1 && parent is not null; i++)
                parent = Descend(parent, path[i], headerPos);
            if (parent is null) continue;

            var (name, namePos) = path[^1];
            var existing = parent.Find(name);
            TTable target;
            if (header is TableArraySyntax)
            {
                TArray array;
                if (existing is null)
                {
                    array = new TArray { Pos = headerPos, OfTables = true };
                    parent.Entries.Add(new TEntry(name, namePos, array));
                }
                else if (existing.Value is TArray { OfTables: true } known) array = known;
                else continue;
                target = new TTable { Pos = headerPos };
                array.Items.Add(target);
            }
            else if (existing is null)
            {
                target = new TTable { Pos = headerPos };
                parent.Entries.Add(new TEntry(name, namePos, target));
            }
            else if (existing.Value is TTable { Inline: false } implied) target = implied;
            else continue;

            foreach (var kv in header.Items) AddKeyValue(target, kv);
        }
        return root;
    }

    private static void AddKeyValue(TTable table, KeyValueSyntax? kv)
    {
        if (kv is null) return;
        var path = Segments(kv.Key);
        var value = Convert(kv.Value);
        if (path is null || value is null) return;
        TTable? parent = table;
        for (int i = 0; i < path.Count - 1 && parent is not null; i++)
            parent = Descend(parent, path[i], path[i].Pos);
        var (name, pos) = path[^1];
        if (parent is null || parent.Find(name) is not null) return;
        parent.Entries.Add(new TEntry(name, pos, value));
    }

    /// <summary>The sub-table named by one segment of a dotted key or header, created when absent.</summary>
    private static TTable? Descend(TTable table, (string Name, Pos Pos) segment, Pos pos)
    {
        var existing = table.Find(segment.Name);
        switch (existing?.Value)
        {
            case null:
                var created = new TTable { Pos = pos };
                table.Entries.Add(new TEntry(segment.Name, segment.Pos, created));
                return created;
            case TTable t:
                return t;
            case TArray { OfTables: true } a when a.Items.Count > 0 && a.Items[^1] is TTable last:
                return last;
            default:
                return null;
        }
    }

    private static List<(string Name, Pos Pos)>? Segments(KeySyntax? key)
    {
        if (key is null) return null;
        var first = KeyName(key.Key);
        if (first is null) return null;
        var path = new List<(string, Pos)> { (first, Pos.Of(key.Key)) };
        if (key.DotKeys is { } dots)
        {
            foreach (var dot in dots)
            {
                var name = KeyName(dot.Key);
                if (name is null) return null;
                path.Add((name, Pos.Of(dot.Key)));
            }
        }
        return path;
    }

    private static string? KeyName(BareKeyOrStringValueSyntax? key) => key switch
    {
        BareKeySyntax bare => bare.Key?.Text,
        StringValueSyntax quoted => quoted.Value,
        _ => null,
    };

    private static TNode? Convert(ValueSyntax? value)
    {
        var pos = Pos.Of(value);
        switch (value)
        {
            case StringValueSyntax s:
                return new TScalar { Pos = pos, Kind = ScalarKind.String, String = s.Value ?? "" };
            case IntegerValueSyntax i:
                return new TScalar { Pos = pos, Kind = ScalarKind.Integer, Integer = i.Value, Source = SourceOf(i.Token, i.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)) };
            case FloatValueSyntax f:
                return new TScalar { Pos = pos, Kind = ScalarKind.Float, Float = f.Value, Source = SourceOf(f.Token, f.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)) };
            case BooleanValueSyntax b:
                return new TScalar { Pos = pos, Kind = ScalarKind.Boolean, Boolean = b.Value, Source = b.Value ? "true" : "false" };
            case DateTimeValueSyntax d:
                return new TScalar { Pos = pos, Kind = ScalarKind.DateTime, Source = SourceOf(d.Token, "a date-time") };
            case ArraySyntax a:
                var array = new TArray { Pos = pos };
                if (a.Items is { } items)
                {
                    foreach (var item in items)
                    {
                        if (Convert(item.Value) is { } converted) array.Items.Add(converted);
                    }
                }
                return array;
            case InlineTableSyntax t:
                var table = new TTable { Pos = pos, Inline = true };
                if (t.Items is { } entries)
                {
                    foreach (var entry in entries) AddKeyValue(table, entry.KeyValue);
                }
                return table;
            default:
                return null;
        }
    }

    private static string SourceOf(SyntaxToken? token, string fallback) =>
        token?.Text is { Length: > 0 } text ? text.Trim() : fallback;
}
