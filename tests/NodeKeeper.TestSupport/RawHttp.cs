using System.Net.Sockets;
using System.Text;

namespace NodeKeeper.TestSupport;

/// <summary>One HTTP/1.1 response as read off the wire.</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public bool Closes => Headers.TryGetValue("connection", out var c) && c.Contains("close", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// An HTTP/1.1 connection driven byte by byte: requests are written as given (pipelined if several at once) and
/// responses are read one by one (Content-Length or chunked), so a test sees exactly what a client would.
/// </summary>
public sealed class RawHttp : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    private RawHttp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawHttp> ConnectAsync(int port)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", port);
        return new RawHttp(client);
    }

    public static string Get(string path = "/") => $"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    public static string Post(string body, string path = "/") =>
        $"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";

    public async Task SendAsync(string text) => await _stream.WriteAsync(Encoding.ASCII.GetBytes(text));

    /// <summary>The next response, or null when the server closed the connection before one began.</summary>
    public async Task<RawResponse?> ReadAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var statusLine = await LineAsync(cts.Token);
        if (statusLine is null) return null;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (await LineAsync(cts.Token) is { Length: > 0 } line)
        {
            var colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        var body = new StringBuilder();
        if (headers.TryGetValue("content-length", out var length))
            body.Append(await BytesAsync(int.Parse(length), cts.Token));
        else if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                var size = Convert.ToInt32((await LineAsync(cts.Token) ?? throw new IOException("connection closed in a chunk")).Split(';')[0], 16);
                if (size == 0) { await LineAsync(cts.Token); break; }
                body.Append(await BytesAsync(size, cts.Token));
                await LineAsync(cts.Token);
            }
        }
        return new RawResponse(int.Parse(statusLine.Split(' ')[1]), headers, body.ToString());
    }

    /// <summary>True when the server has closed its side (EOF) within the timeout.</summary>
    public async Task<bool> ClosedAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { return _start == _end && !await FillAsync(cts.Token); }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }
    }

    /// <summary>The next line of a raw (upgraded) connection, or null at EOF.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await LineAsync(cts.Token, "\n");
    }

    private async Task<string?> LineAsync(CancellationToken ct, string end = "\r\n")
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(ct)) return line.Length == 0 ? null : throw new IOException("connection closed in a line");
            var c = (char)_buffer[_start++];
            line.Append(c);
            if (line.Length >= end.Length && line.ToString(line.Length - end.Length, end.Length) == end)
                return line.ToString(0, line.Length - end.Length);
        }
    }

    private async Task<string> BytesAsync(int count, CancellationToken ct)
    {
        var bytes = new byte[count];
        for (var i = 0; i < count; i++)
        {
            if (_start == _end && !await FillAsync(ct)) throw new IOException("connection closed in a body");
            bytes[i] = _buffer[_start++];
        }
        return Encoding.UTF8.GetString(bytes);
    }

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        _start = 0;
        _end = await _stream.ReadAsync(_buffer, ct);
        return _end > 0;
    }

    public void Dispose() => _client.Dispose();
}
