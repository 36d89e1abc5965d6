using System.Net.Sockets;
using System.Text;

namespace NodeKeeper.Daemon.Http;

/// <summary>
/// The little of HTTP/1.1 the endpoint speaks: where a request head ends, its request line, and an answer that closes
/// the connection.
/// </summary>
public static class HttpWire
{
    /// <summary>The request line and headers of one request.</summary>
    public sealed record Head(string Method, string Path);

    /// <summary>The index where the head ends (at CRLFCRLF or LFLF), or -1.</summary>
    public static int EndOfHead(ReadOnlySpan<byte> data, int from)
    {
        for (var i = from; i < data.Length; i++)
        {
            if (data[i] != (byte)'\n') continue;
            if (i >= 1 && data[i - 1] == (byte)'\n') return i - 1;
            if (i >= 3 && data[i - 1] == (byte)'\r' && data[i - 2] == (byte)'\n' && data[i - 3] == (byte)'\r') return i - 3;
        }
        return -1;
    }

    /// <summary>Parses "METHOD SP target SP HTTP/1.x" (headers are not needed: every answer closes the connection).</summary>
    public static (int Status, Head? Head) ParseHead(string head)
    {
        var lineEnd = head.IndexOf('\n');
        var line = (lineEnd < 0 ? head : head[..lineEnd]).TrimEnd('\r');
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || !parts[0].All(char.IsAsciiLetterUpper)) return (400, null);
        if (!parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return (505, null);
        var target = parts[1];
        if (target.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            var slash = target.IndexOf('/', "http://".Length);
            target = slash < 0 ? "/" : target[slash..];
        }
        var q = target.IndexOfAny(['?', '#']);
        if (q >= 0) target = target[..q];
        return (0, new Head(parts[0], target));
    }

    public static async Task WriteAsync(Socket client, int code, string contentType, string body, string extraHeaders, bool isHead, CancellationToken ct)
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = $"HTTP/1.1 {code} {Reason(code)}\r\nContent-Type: {contentType}\r\nContent-Length: {bodyBytes.Length}\r\n" +
                   $"Cache-Control: no-store\r\n{extraHeaders}Connection: close\r\n\r\n";
        var headBytes = Encoding.ASCII.GetBytes(head);
        var all = new byte[headBytes.Length + (isHead ? 0 : bodyBytes.Length)];
        headBytes.CopyTo(all, 0);
        if (!isHead) bodyBytes.CopyTo(all, headBytes.Length);
        var sent = 0;
        while (sent < all.Length) sent += await client.SendAsync(all.AsMemory(sent), SocketFlags.None, ct);
    }

    public static string Reason(int code) => code switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
}
