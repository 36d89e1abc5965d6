using System.Text.Json;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// Reading the capture files the preload writes: bounded in size, parsed with <see cref="JsonDocument"/> (no reflection,
/// NativeAOT), every failure an <see cref="InvalidDataException"/> with a one-line message.
/// </summary>
internal static class CaptureJson
{
    public static ReadOnlyMemory<byte> ReadAll(Stream stream, long maxBytes, string what)
    {
        var max = Math.Clamp(maxBytes, 0, Array.MaxLength);
        using var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = stream.Read(buf)) > 0)
        {
            if (ms.Length + n > max) throw new InvalidDataException($"{what} is larger than {Size(max)}");
            ms.Write(buf, 0, n);
        }
        if (ms.Length == 0) throw new InvalidDataException($"{what} is empty");
        return new ReadOnlyMemory<byte>(ms.GetBuffer(), 0, (int)ms.Length);
    }

    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, string what)
    {
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{what} is not valid JSON: {e.Message.ReplaceLineEndings(" ")}", e);
        }
    }

    public static long? Long(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : null;

    public static double? Double(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && double.IsFinite(v.GetDouble()) ? v.GetDouble() : null;

    public static string? String(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Size(long bytes) =>
        bytes >= 1 << 20 ? $"{bytes >> 20} MiB" : bytes >= 1 << 10 ? $"{bytes >> 10} KiB" : $"{bytes} bytes";
}
