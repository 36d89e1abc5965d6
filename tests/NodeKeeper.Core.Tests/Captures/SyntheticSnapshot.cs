using System.Globalization;
using System.Text;
using System.Text.Json;

namespace NodeKeeper.Core.Tests.Captures;

/// <summary>Builds small heap snapshots as JSON text, in the layout V8 writes, with a chosen list of node fields.</summary>
internal static class SyntheticSnapshot
{
    public static readonly string[] Node22Fields = ["type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"];

    public static readonly string[] Types =
    [
        "hidden", "array", "string", "object", "code", "closure", "regexp", "number", "native", "synthetic",
        "concatenated string", "sliced string", "symbol", "bigint", "object shape",
    ];

    /// <summary>The JSON of a snapshot holding <paramref name="nodes"/> (type name, node name, self size), in order.</summary>
    public static string Build(IReadOnlyList<string> fields, IEnumerable<(string Type, string Name, long Size)> nodes)
    {
        var strings = new List<string> { "<dummy>" };
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        int StringIndex(string s)
        {
            if (!index.TryGetValue(s, out int i)) { i = strings.Count; strings.Add(s); index[s] = i; }
            return i;
        }

        var rows = new List<string>();
        int id = 1, count = 0;
        foreach (var (type, name, size) in nodes)
        {
            var values = fields.Select(f => f switch
            {
                "type" => Array.IndexOf(Types, type).ToString(CultureInfo.InvariantCulture),
                "name" => StringIndex(name).ToString(CultureInfo.InvariantCulture),
                "self_size" => size.ToString(CultureInfo.InvariantCulture),
                "id" => (id += 2).ToString(CultureInfo.InvariantCulture),
                "edge_count" => "1",
                _ => "0",
            });
            rows.Add(string.Join(",", values));
            count++;
        }

        var sb = new StringBuilder();
        sb.Append("{\"snapshot\":{\"meta\":{\"node_fields\":[").Append(string.Join(",", fields.Select(Quote)))
          .Append("],\"node_types\":[[").Append(string.Join(",", Types.Select(Quote)))
          .Append("],\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],")
          .Append("\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],")
          .Append("\"edge_types\":[[\"context\",\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\",\"weak\"],\"string_or_number\",\"node\"],")
          .Append("\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]},")
          .Append(CultureInfo.InvariantCulture, $"\"node_count\":{count},\"edge_count\":{count},\"trace_function_count\":0}},\n")
          .Append("\"nodes\":[").Append(string.Join("\n,", rows)).Append("],\n")
          .Append("\"edges\":[").Append(string.Join("\n,", Enumerable.Range(0, count).Select(i => $"2,{i % 3},0"))).Append("],\n")
          .Append("\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[0,1,2,3],\n")
          .Append("\"strings\":[").Append(string.Join(",\n", strings.Select(Quote))).Append("]}");
        return sb.ToString();
    }

    /// <summary>A small snapshot with one or more nodes of every type.</summary>
    public static string Mixed(IReadOnlyList<string> fields) => Build(fields,
    [
        ("synthetic", "(GC roots)", 0),
        ("hidden", "system / Map", 40),
        ("hidden", "system / Oddball", 24),
        ("object", "Session", 40),
        ("object", "Session", 40),
        ("object", "Object", 28),
        ("native", "Node / ContextifyScript", 100),
        ("string", "hello", 20),
        ("string", "world, a longer one", 32),
        ("concatenated string", "hello world", 32),
        ("sliced string", "ello", 20),
        ("closure", "onRequest", 32),
        ("closure", "", 32),
        ("array", "(object elements)", 160),
        ("code", "(code for onRequest)", 300),
        ("number", "heap number", 16),
        ("regexp", "^a+$", 40),
        ("symbol", "Symbol(kState)", 20),
        ("bigint", "bigint", 24),
        ("object shape", "system / Map", 80),
    ]);

    public static byte[] Utf8(string json) => Encoding.UTF8.GetBytes(json);

    private static string Quote(string s) => "\"" + JsonEncodedText.Encode(s).ToString() + "\"";
}

/// <summary>A read-only stream that hands out at most a few bytes per Read call, to split tokens across refills.</summary>
internal sealed class TrickleStream(byte[] data, int chunk) : Stream
{
    private int _pos;

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = Math.Min(Math.Min(count, chunk), data.Length - _pos);
        Array.Copy(data, _pos, buffer, offset, n);
        _pos += n;
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => data.Length;
    public override long Position { get => _pos; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
