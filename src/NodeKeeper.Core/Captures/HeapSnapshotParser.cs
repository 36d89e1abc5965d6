using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// The token handler behind <see cref="HeapSnapshotSummary.Read(Stream, CancellationToken)"/>: fed every token of a
/// heap snapshot in order, it keeps <c>snapshot.meta.node_fields</c> and <c>node_types</c>, sums <c>nodes</c> by
/// class as they go by, then keeps from <c>strings</c> only the class names it needs. Everything else (the edges,
/// most strings) passes by untouched. Field positions come from the meta, as they differ between V8 versions.
/// </summary>
internal sealed class HeapSnapshotParser
{
    private enum Root { None, Snapshot, Nodes, Strings, Other }
    private enum MetaKey { None, NodeFields, NodeTypes, Other }

    private struct Sum { public long Count, Size; }

    // Where the reader is.
    private bool _rootStarted, _rootEnded;
    private Root _root;
    private string _rootName = "";
    private bool _metaNext, _inMeta;
    private MetaKey _metaKey;
    private int _typesElement;

    // What the meta says.
    private List<string>? _nodeFields, _nodeTypes;
    private int _fieldCount, _typeAt, _nameAt, _sizeAt;
    private string?[] _typeGroup = []; // per type index: its "(...)" group, or null to group by name

    // The nodes.
    private bool _nodesStarted, _nodesDone;
    private int _field;
    private long _type, _name, _size, _nodeCount, _totalSize;
    private Sum[] _byType = [];
    private readonly Dictionary<int, Sum> _byName = [];

    // The strings.
    private bool _stringsDone;
    private int _stringIndex;
    private readonly Dictionary<int, string?> _names = [];

    /// <summary>Where the reader is, for error messages: e.g. "in 'nodes'".</summary>
    public string Section => !_rootStarted ? "at the start" : _rootName.Length > 0 ? $"in '{_rootName}'" : "in the top-level object";

    public void Token(ref Utf8JsonReader r)
    {
        int depth = r.CurrentDepth;
        var token = r.TokenType;
        if (depth == 2 && _root == Root.Nodes)
        {
            // The hot path: one call per number in 'nodes'.
            if (token != JsonTokenType.Number) throw Bad($"'nodes' holds a {token} instead of numbers");
            NodeValue(ref r);
            return;
        }
        if (depth == 2 && _root == Root.Strings)
        {
            if (token != JsonTokenType.String) throw Bad($"'strings' holds a {token} instead of strings");
            StringValue(ref r);
            return;
        }
        if (depth <= 1) { Outer(ref r, depth, token); return; }
        if (_root == Root.Snapshot) Meta(ref r, depth, token);
    }

    /// <summary>The top-level object: its keys and the start and end of its values.</summary>
    private void Outer(ref Utf8JsonReader r, int depth, JsonTokenType token)
    {
        if (depth == 0)
        {
            if (token == JsonTokenType.StartObject) _rootStarted = true;
            else if (token == JsonTokenType.EndObject) _rootEnded = true;
            else throw Bad("the JSON is not an object");
            return;
        }
        switch (token)
        {
            case JsonTokenType.PropertyName:
                _root = r.ValueTextEquals("snapshot"u8) ? Root.Snapshot
                    : r.ValueTextEquals("nodes"u8) ? Root.Nodes
                    : r.ValueTextEquals("strings"u8) ? Root.Strings
                    : Root.Other;
                _rootName = _root switch
                {
                    Root.Snapshot => "snapshot",
                    Root.Nodes => "nodes",
                    Root.Strings => "strings",
                    _ => r.GetString() ?? "",
                };
                _metaNext = _inMeta = false;
                return;
            case JsonTokenType.StartArray when _root == Root.Nodes:
                StartNodes();
                return;
            case JsonTokenType.EndArray when _root == Root.Nodes:
                if (_field != 0) throw Bad($"'nodes' does not hold whole nodes of {_fieldCount} fields");
                EndNodes();
                return;
            case JsonTokenType.StartArray when _root == Root.Strings:
                if (!_nodesDone) throw Bad("'strings' comes before 'nodes' (this reader needs 'nodes' first)");
                return;
            case JsonTokenType.EndArray when _root == Root.Strings:
                _stringsDone = true;
                return;
            default:
                if (_root is Root.Nodes or Root.Strings) throw Bad($"'{_rootName}' is not an array");
                return;
        }
    }

    /// <summary>Inside "snapshot": only meta.node_fields and the first element of meta.node_types matter.</summary>
    private void Meta(ref Utf8JsonReader r, int depth, JsonTokenType token)
    {
        if (depth == 2)
        {
            if (token == JsonTokenType.PropertyName) { _metaNext = r.ValueTextEquals("meta"u8); _inMeta = false; }
            else if (token == JsonTokenType.StartObject) _inMeta = _metaNext;
            else if (token == JsonTokenType.EndObject) _inMeta = false;
            return;
        }
        if (!_inMeta) return;
        if (depth == 3)
        {
            if (token == JsonTokenType.PropertyName)
            {
                _metaKey = r.ValueTextEquals("node_fields"u8) ? MetaKey.NodeFields
                    : r.ValueTextEquals("node_types"u8) ? MetaKey.NodeTypes
                    : MetaKey.Other;
            }
            else if (token == JsonTokenType.StartArray)
            {
                if (_metaKey == MetaKey.NodeFields) _nodeFields = [];
                else if (_metaKey == MetaKey.NodeTypes) { _nodeTypes = null; _typesElement = 0; }
            }
            return;
        }
        if (_metaKey == MetaKey.NodeFields && depth == 4 && token == JsonTokenType.String)
            _nodeFields?.Add(r.GetString()!);
        else if (_metaKey == MetaKey.NodeTypes && depth == 4 && token is not (JsonTokenType.EndArray or JsonTokenType.EndObject))
        {
            // node_types is [["hidden","array",...], "string", "number", ...]: the type names are its first element.
            if (++_typesElement == 1 && token == JsonTokenType.StartArray) _nodeTypes = [];
        }
        else if (_metaKey == MetaKey.NodeTypes && depth == 5 && _typesElement == 1 && token == JsonTokenType.String)
            _nodeTypes?.Add(r.GetString()!);
    }

    private void StartNodes()
    {
        if (_nodesStarted) throw Bad("two 'nodes' arrays");
        if (_nodeFields is null) throw Bad("no snapshot.meta.node_fields before nodes");
        if (_nodeTypes is null) throw Bad("no snapshot.meta.node_types before nodes");
        _fieldCount = _nodeFields.Count;
        _typeAt = FieldAt("type");
        _nameAt = FieldAt("name");
        _sizeAt = FieldAt("self_size");
        _typeGroup = _nodeTypes.Select(GroupOf).ToArray();
        _byType = new Sum[_nodeTypes.Count];
        _nodesStarted = true;
    }

    private int FieldAt(string name)
    {
        int i = _nodeFields!.IndexOf(name);
        return i >= 0 ? i : throw Bad($"snapshot.meta.node_fields has no \"{name}\"");
    }

    /// <summary>
    /// The group DevTools' Summary view puts a node type in: null for "object" and "native" (grouped by their name,
    /// the constructor), "(system)" for "hidden", "(compiled code)" for "code", "(heap number)" for "number"
    /// (V8's name for those nodes), "(" + type + ")" for the rest.
    /// </summary>
    internal static string? GroupOf(string type) => type switch
    {
        "object" or "native" => null,
        "hidden" => "(system)",
        "code" => "(compiled code)",
        "number" => "(heap number)",
        _ => "(" + type + ")",
    };

    private void NodeValue(ref Utf8JsonReader r)
    {
        int field = _field;
        if (field == _typeAt) _type = Integer(ref r);
        else if (field == _nameAt) _name = Integer(ref r);
        else if (field == _sizeAt) _size = Integer(ref r);
        if (++field < _fieldCount) { _field = field; return; }
        _field = 0;
        _nodeCount++;
        _totalSize += _size;
        if (_type >= _typeGroup.Length) throw Bad($"node type {_type} is not in snapshot.meta.node_types ({_typeGroup.Length} types)");
        if (_typeGroup[_type] is not null)
        {
            ref var t = ref _byType[_type];
            t.Count++;
            t.Size += _size;
            return;
        }
        if (_name > int.MaxValue) throw Bad($"node name {_name} is not a string index");
        // Objects and natives are grouped by name index, as DevTools' classIndex does.
        ref var s = ref CollectionsMarshal.GetValueRefOrAddDefault(_byName, (int)_name, out _);
        s.Count++;
        s.Size += _size;
    }

    private static long Integer(ref Utf8JsonReader r) =>
        r.TryGetInt64(out long v) && v >= 0 ? v : throw Bad($"'nodes' holds {Encoding.UTF8.GetString(r.ValueSpan)}, not a count");

    private void EndNodes()
    {
        _nodesDone = true;
        foreach (var key in _byName.Keys) _names[key] = null;
    }

    private void StringValue(ref Utf8JsonReader r)
    {
        int index = _stringIndex++;
        ref var name = ref CollectionsMarshal.GetValueRefOrNullRef(_names, index);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref name)) return;
        try { name = r.GetString(); }
        catch (InvalidOperationException) { name = Encoding.UTF8.GetString(r.ValueSpan); } // e.g. a lone surrogate
    }

    public HeapSummary Finish()
    {
        if (!_rootStarted) throw Bad("the JSON is not an object");
        if (!_rootEnded) throw new InvalidDataException($"heap snapshot is truncated: the data ends {Section}");
        if (_nodeFields is null) throw Bad("no snapshot.meta.node_fields");
        if (!_nodesDone) throw Bad("no 'nodes' array");
        if (!_stringsDone) throw Bad("no 'strings' array");
        var classes = new Dictionary<string, HeapClass>(StringComparer.Ordinal);
        for (int t = 0; t < _byType.Length; t++)
            if (_byType[t].Count > 0) Add(classes, _typeGroup[t]!, _byType[t]);
        foreach (var (index, sum) in _byName)
        {
            var name = _names[index] ?? throw Bad($"node name {index} is past the end of 'strings' ({_stringIndex} strings)");
            Add(classes, name, sum);
        }
        return new HeapSummary(_nodeCount, _totalSize, classes);
    }

    private static void Add(Dictionary<string, HeapClass> classes, string name, Sum sum)
    {
        // V8 writes each string once; merging only matters if a name looks like a "(...)" group.
        classes[name] = classes.TryGetValue(name, out var had)
            ? new HeapClass(had.Count + sum.Count, had.SelfSize + sum.Size)
            : new HeapClass(sum.Count, sum.Size);
    }

    private static InvalidDataException Bad(string what) => new("not a V8 heap snapshot: " + what);
}
