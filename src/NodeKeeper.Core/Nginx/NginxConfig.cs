using System.Net;
using System.Net.Sockets;
using System.Text;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Nginx;

/// <summary>What `nk nginx` puts in the server block besides the app's own ports.</summary>
public sealed record NginxOptions
{
    /// <summary>server_name; "_" (the default) matches no real host, so the block serves as its listen's default.</summary>
    public string ServerName { get; init; } = "_";
    /// <summary>The listen directive's argument: a port ("80") or an address and port ("127.0.0.1:8080").</summary>
    public string Listen { get; init; } = "80";
    /// <summary>Where the daemon binds the app's shared port (the app's `host`); null: every interface.</summary>
    public string? AppHost { get; init; }
}

/// <summary>
/// `nk nginx NAME`: an nginx map, upstream and server block (to include inside http { }) that proxy to an app's
/// port(s), set up against the usual causes of 502s: no retry with a single upstream server, upstream keepalive
/// races, response headers larger than the proxy buffer, request headers larger than the header buffers, and
/// WebSocket upgrades that are not passed on. Pure: the text depends only on its inputs.
/// </summary>
public static class NginxConfig
{
    /// <summary>The variable of the WebSocket map; prefixed so it does not clash with a user's own $connection_upgrade.</summary>
    public const string ConnectionVariable = "$nk_connection_upgrade";
    public const string ConnectTimeout = "5s", SendTimeout = "60s", ReadTimeout = "60s";

    public static string UpstreamName(string app) => "nk_" + app;

    /// <summary>Why the app or the options cannot make a config (one line), or null.</summary>
    public static string? Check(AppDescription app, NginxOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        if (app.Port is null)
            return $"app {app.Name} has no port: nginx needs one to proxy to (set `port` in its [[app]] and start it again)";
        return CheckOptions(options);
    }

    /// <summary>Why the server_name or listen value would break the config (one line), or null.</summary>
    public static string? CheckOptions(NginxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (BadValue(options.ServerName) is { } s) return $"--server-name {s}";
        if (BadValue(options.Listen) is { } l) return $"--listen {l}";
        return null;
    }

    private static string? BadValue(string value)
    {
        if (string.IsNullOrWhiteSpace(value)) return "must not be empty";
        var bad = value.FirstOrDefault(c => c is ';' or '{' or '}' or '"' or '\'' or '\\' or '#' or '$' || char.IsControl(c));
        return bad == default ? null : $"must not contain {(char.IsControl(bad) ? "control characters" : $"\"{bad}\"")}, got \"{value}\"";
    }

    /// <summary>The address nginx connects to: loopback when the app listens on every interface or on localhost.</summary>
    public static string UpstreamHost(AppDescription app, string? appHost)
    {
        // In increment mode each instance binds PORT itself (node's listen(PORT): every interface); `host` only
        // says where the daemon binds a shared port.
        if (Increments(app) || string.IsNullOrEmpty(appHost) || appHost == "localhost") return "127.0.0.1";
        if (!IPAddress.TryParse(appHost, out var ip)) return appHost;
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)) return "127.0.0.1";
        return ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
    }

    /// <summary>The ports nginx proxies to: the app's port (shared), or port + i for each instance (increment).</summary>
    public static IReadOnlyList<int> Ports(AppDescription app)
    {
        if (app.Port is not { } port) return [];
        return Increments(app) ? Enumerable.Range(port, Math.Max(1, app.Instances)).ToList() : [port];
    }

    private static bool Increments(AppDescription app) => app.PortMode == PortMode.Increment.Word();

    /// <summary>The config text; <see cref="Check"/> must have returned null.</summary>
    public static string Generate(AppDescription app, NginxOptions options)
    {
        if (Check(app, options) is { } error) throw new ArgumentException(error, nameof(app));
        var host = UpstreamHost(app, options.AppHost);
        var ports = Ports(app);
        var increment = Increments(app);
        var upstream = UpstreamName(app.Name);
        var servers = ports.Select(p => $"server {host}:{p} max_fails=0;").ToList();
        // With one upstream server nginx never retries a request (proxy_next_upstream has nowhere to go); the same
        // address again as backup gives it a second try on a fresh connection.
        if (servers.Count == 1) servers.Add($"server {host}:{ports[0]} max_fails=0 backup;");

        var b = new StringBuilder();
        void L(string line = "") => b.Append(line).Append('\n');

        var portText = increment ? $"ports {ports[0]}-{ports[^1]} (increment mode" : $"port {ports[0]} (shared mode";
        L($"# nk nginx {app.Name}: app \"{app.Name}\", {portText}, {app.Instances} instance{(app.Instances == 1 ? "" : "s")}).");
        L("# Include inside http { } (e.g. as /etc/nginx/conf.d/" + app.Name + ".conf); check with `nginx -t`, apply with `nginx -s reload`.");
        L();
        L("# WebSockets: \"Connection: upgrade\" when the client asks for an upgrade, else no Connection header at all, so that");
        L("# the keepalive connections of the upstream are reused (\"close\" would end each one after a request). nginx accepts");
        L("# the same map again, so the outputs of several `nk nginx` can be included side by side.");
        L($"map $http_upgrade {ConnectionVariable} {{");
        L("    default upgrade;");
        L("    ''      '';");
        L("}");
        L();
        L($"upstream {upstream} {{");
        if (increment)
        {
            L("    # Increment mode: instance i listens on port + i. While one restarts, its port refuses connections and nginx");
            L("    # retries the next (proxy_next_upstream error). max_fails=0: a refused connect on loopback costs nothing, and");
            L("    # nginx does not shut a restarted instance out for fail_timeout (10s), which during a rolling `nk reload` could");
            L("    # leave no live upstream at all (502).");
        }
        else
        {
            L("    # Shared mode: NodeKeeper holds the listening socket, so a connect never fails while an instance restarts: it");
            L("    # waits in the backlog for the next one, and a retry on the same address succeeds. The address is listed twice");
            L("    # (the second as backup) because nginx does not retry with a single server; max_fails=0 because a failure");
            L("    # would otherwise mark the address down for fail_timeout (10s), leaving \"no live upstreams\" (502).");
        }
        foreach (var s in servers) L("    " + s);
        L("    # Keep-alive to the app. Do not remove keepalive_timeout, and keep it below the app's keepAliveTimeout (Node's");
        L($"    # default: 5s) and its drain_timeout (NodeKeeper's default: {Duration.Format(AppDefaults.DrainTimeout)}): nginx then closes an idle connection itself,");
        L("    # which is never under a request, before the app would (else nginx may send a request, a POST it cannot resend,");
        L("    # on a connection the app is closing: 502). A retiring instance ends each connection after a response that says");
        L("    # `Connection: close`, and waits for nginx to close the idle ones: the shorter this, the sooner a reload is done.");
        L("    keepalive 32;");
        L("    keepalive_timeout 2s;");
        L("}");
        L();
        L("server {");
        L($"    listen {options.Listen};");
        L($"    server_name {options.ServerName};");
        L();
        L("    # Large request headers (JWTs, many cookies): a header beyond 4k goes to one of 4 buffers of 32k instead of");
        L("    # failing with 400 (on an address several servers share, the default server's sizes apply).");
        L("    client_header_buffer_size 4k;");
        L("    large_client_header_buffers 4 32k;");
        L();
        L("    location / {");
        L($"        proxy_pass http://{upstream};");
        L("        proxy_http_version 1.1;");
        L("        proxy_set_header Host $host;");
        L("        proxy_set_header X-Real-IP $remote_addr;");
        L("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;");
        L("        proxy_set_header X-Forwarded-Proto $scheme;");
        L("        proxy_set_header X-Forwarded-Host $host;");
        L("        proxy_set_header Upgrade $http_upgrade;");
        L($"        proxy_set_header Connection {ConnectionVariable};");
        L();
        L("        # Retry on the next server when connecting fails, the connection breaks or times out, or the app answers 502.");
        L("        # nginx never resends a non-idempotent request (POST, PATCH, ...) once it went out to the app.");
        L("        proxy_next_upstream error timeout http_502;");
        L($"        proxy_next_upstream_tries {servers.Count};");
        L();
        L($"        # Connecting on loopback is immediate unless the app is wedged ({ConnectTimeout}). The app may take up to {ReadTimeout} between");
        L("        # two reads or writes: raise proxy_read_timeout for slow endpoints or long polling. An idle WebSocket is closed");
        L("        # after proxy_read_timeout unless the app pings.");
        L($"        proxy_connect_timeout {ConnectTimeout};");
        L($"        proxy_send_timeout {SendTimeout};");
        L($"        proxy_read_timeout {ReadTimeout};");
        L();
        L("        # Response headers up to 16k (large Set-Cookie): beyond proxy_buffer_size nginx answers 502 \"upstream sent too");
        L("        # big header\".");
        L("        proxy_buffer_size 16k;");
        L("        proxy_buffers 8 16k;");
        L("        proxy_busy_buffers_size 32k;");
        L("    }");
        L("}");
        return b.ToString();
    }
}
