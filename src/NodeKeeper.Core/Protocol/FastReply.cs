using System.Text.Json;

namespace NodeKeeper.Core.Protocol;

/// <summary>
/// The wire side of `nk`'s fast path (status, ls, ping), without the serializer's metadata for <see cref="Request"/> and
/// <see cref="Response"/>: building that metadata (AppSpec, AppDescription, WhyReport… and their attributes) was half
/// of the CPU of an `nk status --json`, which matters most when the machine is busy starting apps. The request is
/// written with the fields a status or ping needs (a missing field is its default, as if sent null), and the answer is
/// read token by token but for the instances, stepped over by a scan (see <see cref="Parse"/>): they stay the bytes
/// the daemon wrote, which are what <c>JsonSerializer.Serialize(rows, ProtocolJson.Default.ListInstanceInfo)</c> writes
/// (same type, same options).
/// </summary>
public static class FastReply
{
    /// <summary>The fields of an answer the fast path uses.</summary>
    /// <param name="Instances">The "instances" array as the daemon wrote it, or null when absent or null.</param>
    public sealed record Answer(bool Ok, string? Version, int? Pid, string? DaemonNotice, ReadOnlyMemory<byte>? Instances);

    /// <summary>One request line (with its newline): {"id":…,"cmd":…,"names":[…]}.</summary>
    public static byte[] Request(int id, string cmd, IReadOnlyList<string>? names)
    {
        var line = new System.Text.StringBuilder(64).Append("{\"id\":").Append(id).Append(",\"cmd\":");
        Quote(line, cmd);
        if (names is not null)
        {
            line.Append(",\"names\":[");
            for (var i = 0; i < names.Count; i++)
            {
                if (i > 0) line.Append(',');
                Quote(line, names[i]);
            }
            line.Append(']');
        }
        return System.Text.Encoding.UTF8.GetBytes(line.Append("}\n").ToString());
    }

    /// <summary>A JSON string (RFC 8259: the quote, the backslash and control characters escaped; the rest as it is).</summary>
    private static void Quote(System.Text.StringBuilder to, string text)
    {
        to.Append('"');
        foreach (var c in text)
        {
            if (c == '"' || c == '\\') to.Append('\\').Append(c);
            else if (c < ' ') to.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            else to.Append(c);
        }
        to.Append('"');
    }

    /// <summary>Reads an answer line; null when it is not a JSON object with the types the protocol gives these fields.</summary>
    /// <remarks>
    /// The "instances" array is most of an answer (200 KB at 300 apps), and tokenizing it was the largest part of the
    /// client's own CPU. Its end is found by a scan for brackets and strings (<see cref="ArrayEnd"/>), and the reader
    /// reads the rest of the object with the array seen as []. The rows are the daemon's bytes, handed on as they are;
    /// the daemon is the peer checked by its credentials, and its serializer writes nothing else than JSON.
    /// </remarks>
    public static Answer? Parse(ReadOnlyMemory<byte> line)
    {
        try
        {
            var start = InstancesStart(line.Span);
            if (start < 0) return Fields(new Utf8JsonReader(line.Span), line, null);
            var end = ArrayEnd(line.Span, start);
            if (end < 0) return null;
            var rest = Segment.Chain(line[..(start + 1)], "]"u8.ToArray(), line[end..]);
            return Fields(new Utf8JsonReader(rest), line, line[start..end]);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException) { return null; }
    }

    /// <summary>Where the value of the top-level "instances" starts when it is an array; -1 when it is absent or not one.</summary>
    private static int InstancesStart(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return -1;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var instances = reader.ValueTextEquals("instances"u8);
            if (!reader.Read()) return -1;
            if (instances) return reader.TokenType == JsonTokenType.StartArray ? (int)reader.TokenStartIndex : -1;
            reader.Skip();
        }
        return -1;
    }

    private static readonly System.Buffers.SearchValues<byte> Structural = System.Buffers.SearchValues.Create("\"[]{}"u8);
    private static readonly System.Buffers.SearchValues<byte> QuoteOrEscape = System.Buffers.SearchValues.Create("\"\\"u8);

    /// <summary>
    /// The index just past the array or object that opens at <paramref name="start"/>: brackets are matched by kind, and
    /// strings (with their escapes) are stepped over. -1 when it does not close in the line, closes with the wrong kind,
    /// or nests deeper than 64.
    /// </summary>
    public static int ArrayEnd(ReadOnlySpan<byte> json, int start)
    {
        ulong objects = 0; // bit d: the container at depth d is an object
        var depth = 0;
        var i = start;
        while (true)
        {
            var next = json[i..].IndexOfAny(Structural);
            if (next < 0) return -1;
            i += next;
            var c = json[i];
            if (c == (byte)'"')
            {
                while (true)
                {
                    i++;
                    var q = i < json.Length ? json[i..].IndexOfAny(QuoteOrEscape) : -1;
                    if (q < 0) return -1;
                    i += q;
                    if (json[i] == (byte)'"') break;
                    i++; // the escaped character
                }
            }
            else if (c is (byte)'[' or (byte)'{')
            {
                if (depth == 64) return -1;
                if (c == (byte)'{') objects |= 1UL << depth; else objects &= ~(1UL << depth);
                depth++;
            }
            else
            {
                if (depth == 0) return -1;
                depth--;
                if (((objects >> depth & 1) == 1) != (c == (byte)'}')) return -1;
                if (depth == 0) return i + 1;
            }
            i++;
            if (i >= json.Length) return -1;
        }
    }

    private static Answer? Fields(Utf8JsonReader reader, ReadOnlyMemory<byte> line, ReadOnlyMemory<byte>? rows)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        bool ok = false;
        string? version = null, notice = null;
        int? pid = null;
        ReadOnlyMemory<byte>? instances = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            // Compared as text: the daemon's names are plain, and a name is never cut by a piece's edge either way.
            var field = reader.ValueTextEquals("ok"u8) ? 1 : reader.ValueTextEquals("version"u8) ? 2 : reader.ValueTextEquals("daemon_notice"u8) ? 3
                : reader.ValueTextEquals("pid"u8) ? 4 : reader.ValueTextEquals("instances"u8) ? 5 : 0;
            if (!reader.Read()) return null;
            if (field == 1)
            {
                if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return null;
                ok = reader.GetBoolean();
            }
            else if (field == 2) version = StringOrNull(ref reader);
            else if (field == 3) notice = StringOrNull(ref reader);
            else if (field == 4) pid = reader.TokenType == JsonTokenType.Null ? null : reader.GetInt32();
            else if (field == 5)
            {
                if (reader.TokenType == JsonTokenType.Null) { instances = null; continue; }
                if (reader.TokenType != JsonTokenType.StartArray) return null;
                var at = (int)reader.TokenStartIndex;
                reader.Skip();
                // The array the scan stepped over (seen here as []), else the one read here.
                instances = rows ?? line[at..(int)reader.BytesConsumed];
            }
            else reader.Skip();
        }
        if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0 || reader.Read()) return null;
        return new Answer(ok, version, pid, notice, instances);
    }

    /// <summary>One piece of a line read as one (the line with its array cut out).</summary>
    private sealed class Segment : System.Buffers.ReadOnlySequenceSegment<byte>
    {
        private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public static System.Buffers.ReadOnlySequence<byte> Chain(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> middle, ReadOnlyMemory<byte> last)
        {
            var a = new Segment(first, 0);
            var b = new Segment(middle, first.Length);
            var c = new Segment(last, first.Length + middle.Length);
            a.Next = b;
            b.Next = c;
            return new System.Buffers.ReadOnlySequence<byte>(a, 0, c, last.Length);
        }
    }

    private static string? StringOrNull(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Null ? null : reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Wrong();

    private static JsonException Wrong() => new("a field of the answer has the wrong type");
}
