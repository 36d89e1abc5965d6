using System.Text.Json;

namespace NodeKeeper.Core.Protocol;

/// <summary>
/// The wire side of `nk`'s fast path (status, ls, ping), without the serializer's metadata for <see cref="Request"/> and
/// <see cref="Response"/>: building that metadata (AppSpec, AppDescription, WhyReport… and their attributes) was half
/// of the CPU of an `nk status --json`, which matters most when the machine is busy starting apps. The request is
/// written with the fields a status or ping needs (a missing field is its default, as if sent null), and the answer is
/// read token by token: the instances stay the bytes the daemon wrote, which are what
/// <c>JsonSerializer.Serialize(rows, ProtocolJson.Default.ListInstanceInfo)</c> writes (same type, same options).
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
    public static Answer? Parse(ReadOnlyMemory<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line.Span);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            bool ok = false;
            string? version = null, notice = null;
            int? pid = null;
            ReadOnlyMemory<byte>? instances = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                if (reader.ValueIsEscaped) return null; // never written by the daemon for these names
                if (!reader.Read()) return null;
                if (name.SequenceEqual("ok"u8))
                {
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return null;
                    ok = reader.GetBoolean();
                }
                else if (name.SequenceEqual("version"u8)) version = StringOrNull(ref reader);
                else if (name.SequenceEqual("daemon_notice"u8)) notice = StringOrNull(ref reader);
                else if (name.SequenceEqual("pid"u8)) pid = reader.TokenType == JsonTokenType.Null ? null : reader.GetInt32();
                else if (name.SequenceEqual("instances"u8))
                {
                    if (reader.TokenType == JsonTokenType.Null) { instances = null; continue; }
                    if (reader.TokenType != JsonTokenType.StartArray) return null;
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    instances = line[start..(int)reader.BytesConsumed];
                }
                else reader.Skip();
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0 || reader.Read()) return null;
            return new Answer(ok, version, pid, notice, instances);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException) { return null; }
    }

    private static string? StringOrNull(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Null ? null : reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Wrong();

    private static JsonException Wrong() => new("a field of the answer has the wrong type");
}
