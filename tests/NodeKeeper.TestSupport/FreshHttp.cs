using System.Net.Sockets;

namespace NodeKeeper.TestSupport;

/// <summary>HTTP requests each on a fresh connection, as a load client that cannot hide a restart behind keep-alive.</summary>
public static class FreshHttp
{
    /// <summary>The body, or null when the request failed (refused, reset, timeout).</summary>
    public static async Task<string?> Get(int port) => (await Request(port)).Body;

    /// <summary>The body, or whether the connection was refused.</summary>
    public static async Task<(string? Body, bool Refused)> Request(int port)
    {
        using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.ConnectionClose = true;
        try { return (await http.GetStringAsync($"http://127.0.0.1:{port}/"), false); }
        catch (HttpRequestException ex) { return (null, ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused }); }
        catch (TaskCanceledException) { return (null, false); }
    }
}
