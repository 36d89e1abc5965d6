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

/// <summary>How a table came to be, which decides what may still add keys to it (TOML 1.0).</summary>
internal enum TableKind
{
    /// <summary>The document itself.</summary>
    Root,
    /// <summary>Named on the way to a header ([a] of [a.b]): a later [a] may still define it, once.</summary>
    Implicit,
    /// <summary>Defined by its own [header].</summary>
    Header,
    /// <summary>An element of an array of tables, one per [[header]].</summary>
    ArrayElement,
    /// <summary>Made by a dotted key (a.b = 1): only dotted keys of the same section add to it.</summary>
    Dotted,
    /// <summary>{ ... }: complete as written.</summary>
    Inline,
}

/// <summary>A table: [header], [[header]] element, inline { }, or implied by a dotted key.</summary>
internal sealed class TTable : TNode
{
    public TableKind Kind { get; set; }
    /// <summary>For a dotted table, the header table (or root, or inline table) whose key-values made it.</summary>
    public TTable? Section { get; init; }
    public bool Inline => Kind == TableKind.Inline;

    private readonly List<TEntry> _entries = [];
    // Finding a key by scanning the list made a table of n keys cost n² string comparisons.
    private readonly Dictionary<string, TEntry> _byKey = new(StringComparer.Ordinal);

    /// <summary>The keys in the order they were written.</summary>
    public IReadOnlyList<TEntry> Entries => _entries;
    public TEntry? Find(string key) => _byKey.GetValueOrDefault(key);

    /// <summary>Adds a key not yet in the table.</summary>
    public void Add(TEntry entry)
    {
        _byKey.Add(entry.Key, entry);
        _entries.Add(entry);
    }
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
/// Turns Tomlyn's syntax tree (already free of syntax errors) into plain tables, arrays and scalars that keep the
/// position of every key and value. Headers, dotted keys and inline tables all end up as <see cref="TTable"/>s,
/// so validation needs no TOML knowledge. It also applies TOML's rules on defining a key or table twice: Tomlyn's
/// own validation (2.10.2) is skipped because in a table of some 60,000 keys it reports distinct keys as
/// "already defined" (its key paths collide) and costs seconds.
/// </summary>
internal static class TomlTree
{
    public static TTable Build(DocumentSyntax doc, ConfigErrors errors)
    {
        var root = new TTable { Pos = new Pos(1, 1), Kind = TableKind.Root };
        foreach (var kv in doc.KeyValues) AddKeyValue(root, kv, errors);

        foreach (var header in doc.Tables)
        {
            var path = Segments(header.Name);
            if (path is null) continue;
            var headerPos = Pos.Of(header);
            var parent = root;
            for (int i = 0; i < path.Count - 1 && parent is not null; i++)
                parent = DescendHeader(parent, path, i, headerPos, errors);
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
                    parent.Add(new TEntry(name, namePos, array));
                }
                else if (existing.Value is TArray { OfTables: true } known) array = known;
                else
                {
                    errors.Add(namePos, existing.Value is TArray
                        ? $"{Dotted(path, path.Count)} is an array, not an array of tables: [[{Dotted(path, path.Count)}]] cannot add to it (defined at {At(existing)})"
                        : $"{Dotted(path, path.Count)} is already defined at {At(existing)}");
                    continue;
                }
                target = new TTable { Pos = headerPos, Kind = TableKind.ArrayElement };
                array.Items.Add(target);
            }
            else if (existing is null)
            {
                target = new TTable { Pos = headerPos, Kind = TableKind.Header };
                parent.Add(new TEntry(name, namePos, target));
            }
            else if (existing.Value is TTable { Kind: TableKind.Implicit } implied)
            {
                implied.Kind = TableKind.Header;
                target = implied;
            }
            else
            {
                errors.Add(namePos, $"{Dotted(path, path.Count)} is already defined at {At(existing)}");
                continue;
            }

            foreach (var kv in header.Items) AddKeyValue(target, kv, errors);
        }
        return root;
    }

    /// <summary>
    /// A key-value of <paramref name="section"/> (root, a header table, an array element or an inline table, whose
    /// key path is <paramref name="prefix"/>, as messages name keys).
    /// </summary>
    private static void AddKeyValue(TTable section, KeyValueSyntax? kv, ConfigErrors errors, string? prefix = null)
    {
        if (kv is null) return;
        var path = Segments(kv.Key);
        if (path is null) return;
        var value = Convert(kv.Value, errors, Dotted(path, path.Count, prefix));
        if (value is null) return;
        TTable? parent = section;
        for (int i = 0; i < path.Count - 1 && parent is not null; i++)
        {
            var (segment, segmentPos) = path[i];
            var existing = parent.Find(segment);
            if (existing is null)
            {
                var created = new TTable { Pos = segmentPos, Kind = TableKind.Dotted, Section = section };
                parent.Add(new TEntry(segment, segmentPos, created));
                parent = created;
            }
            else if (existing.Value is TTable { Kind: TableKind.Dotted } dotted && dotted.Section == section) parent = dotted;
            else
            {
                errors.Add(segmentPos, existing.Value is TTable { Kind: TableKind.Inline }
                    ? $"{Dotted(path, i + 1, prefix)} is an inline table, complete as written at {At(existing)}: a dotted key cannot add to it"
                    : existing.Value is TTable
                        ? $"{Dotted(path, i + 1, prefix)} is a table defined at {At(existing)}: a dotted key cannot add to it from here"
                        : $"{Dotted(path, i + 1, prefix)} is already defined at {At(existing)}");
                parent = null;
            }
        }
        if (parent is null) return;
        var (name, pos) = path[^1];
        if (parent.Find(name) is { } first) errors.Add(pos, $"{Dotted(path, path.Count, prefix)} is already defined at {At(first)}");
        else parent.Add(new TEntry(name, pos, value));
    }

    /// <summary>The table named by segment <paramref name="i"/> of a header on the way to its last one, created when absent.</summary>
    private static TTable? DescendHeader(TTable table, List<(string Name, Pos Pos)> path, int i, Pos headerPos, ConfigErrors errors)
    {
        var (name, pos) = path[i];
        var existing = table.Find(name);
        switch (existing?.Value)
        {
            case null:
                var created = new TTable { Pos = headerPos, Kind = TableKind.Implicit };
                table.Add(new TEntry(name, pos, created));
                return created;
            case TTable { Kind: TableKind.Inline }:
                errors.Add(pos, $"{Dotted(path, i + 1)} is an inline table, complete as written at {At(existing)}: a header cannot add to it");
                return null;
            case TTable t:
                return t;
            case TArray { OfTables: true } a when a.Items.Count > 0 && a.Items[^1] is TTable last:
                return last;
            default:
                errors.Add(pos, $"{Dotted(path, i + 1)} is not a table: it is defined at {At(existing!)}");
                return null;
        }
    }

    private static string Dotted(List<(string Name, Pos Pos)> path, int count, string? prefix = null) =>
        (prefix is null ? "" : prefix + ".") + string.Join('.', path.Take(count).Select(p => Text.Key(p.Name)));

    private static string At(TEntry entry) => $"{entry.KeyPos.Line}:{entry.KeyPos.Column}";

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

    private static TNode? Convert(ValueSyntax? value, ConfigErrors errors, string key)
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
                        if (Convert(item.Value, errors, key + "[]") is { } converted) array.Items.Add(converted);
                    }
                }
                return array;
            case InlineTableSyntax t:
                var table = new TTable { Pos = pos, Kind = TableKind.Inline };
                if (t.Items is { } entries)
                {
                    foreach (var entry in entries) AddKeyValue(table, entry.KeyValue, errors, key);
                }
                return table;
            default:
                return null;
        }
    }

    private static string SourceOf(SyntaxToken? token, string fallback) =>
        token?.Text is { Length: > 0 } text ? text.Trim() : fallback;
}
