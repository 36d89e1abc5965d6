using System.Text.RegularExpressions;
using NodeKeeper.Core.Nginx;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Tests.Nginx;

public sealed class NginxConfigTests
{
    private static AppDescription App(int? port = 3000, string mode = "shared", int instances = 2, string name = "web") => new()
    {
        Name = name, Script = "/srv/app.js", Cwd = "/srv", Interpreter = "node", Instances = instances,
        Port = port, PortMode = mode, InstanceList = [],
    };

    /// <summary>The directive lines (comments and blank lines dropped, indentation trimmed).</summary>
    private static List<string> Directives(string text) => text.Split('\n')
        .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

    private static List<string> Block(string text, string header)
    {
        var lines = Directives(text);
        var start = lines.IndexOf(header + " {");
        start.Should().BeGreaterThanOrEqualTo(0, $"a block \"{header} {{\" in:\n{text}");
        var depth = 0;
        var block = new List<string>();
        for (var i = start; i < lines.Count; i++)
        {
            depth += lines[i].Count(c => c == '{') - lines[i].Count(c => c == '}');
            block.Add(lines[i]);
            if (depth == 0) return block;
        }
        throw new InvalidOperationException("unbalanced braces");
    }

    [Fact]
    public void Shared_mode_lists_the_one_address_twice_the_second_as_backup_never_marked_down()
    {
        var text = NginxConfig.Generate(App(), new NginxOptions());
        Block(text, "upstream nk_web").Should().Equal(
            "upstream nk_web {",
            "server 127.0.0.1:3000 max_fails=0;",
            "server 127.0.0.1:3000 max_fails=0 backup;",
            "keepalive 32;",
            "keepalive_timeout 2s;",
            "}");
        Directives(text).Should().Contain("proxy_next_upstream_tries 2;");
    }

    [Fact]
    public void Increment_mode_lists_one_server_per_instance_port()
    {
        var text = NginxConfig.Generate(App(4000, "increment", 3), new NginxOptions());
        Block(text, "upstream nk_web").Where(l => l.StartsWith("server ")).Should().Equal(
            "server 127.0.0.1:4000 max_fails=0;",
            "server 127.0.0.1:4001 max_fails=0;",
            "server 127.0.0.1:4002 max_fails=0;");
        Directives(text).Should().Contain("proxy_next_upstream_tries 3;");
        text.Should().Contain("ports 4000-4002 (increment mode");
    }

    [Fact]
    public void Increment_mode_with_one_instance_gets_the_backup_line_too()
    {
        var text = NginxConfig.Generate(App(4000, "increment", 1), new NginxOptions());
        Block(text, "upstream nk_web").Where(l => l.StartsWith("server ")).Should().Equal(
            "server 127.0.0.1:4000 max_fails=0;",
            "server 127.0.0.1:4000 max_fails=0 backup;");
    }

    [Theory]
    [InlineData(null, "127.0.0.1")]
    [InlineData("0.0.0.0", "127.0.0.1")]
    [InlineData("::", "127.0.0.1")]
    [InlineData("localhost", "127.0.0.1")]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("::1", "[::1]")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("fd00::5", "[fd00::5]")]
    public void The_upstream_address_is_the_apps_host_or_loopback_when_it_binds_every_interface(string? host, string expected)
    {
        var text = NginxConfig.Generate(App(), new NginxOptions { AppHost = host });
        Directives(text).Should().Contain($"server {expected}:3000 max_fails=0;");
    }

    [Fact]
    public void Increment_mode_ignores_host_which_only_places_the_shared_socket()
    {
        NginxConfig.UpstreamHost(App(mode: "increment"), "10.1.2.3").Should().Be("127.0.0.1");
    }

    [Fact]
    public void The_server_block_proxies_websockets_forwards_client_headers_and_sets_timeouts_and_buffers()
    {
        var text = NginxConfig.Generate(App(), new NginxOptions { ServerName = "example.com www.example.com", Listen = "127.0.0.1:8080" });
        var server = Block(text, "server");
        server.Should().ContainInOrder("listen 127.0.0.1:8080;", "server_name example.com www.example.com;");
        server.Should().Contain([
            "client_header_buffer_size 4k;",
            "large_client_header_buffers 4 32k;",
            "proxy_pass http://nk_web;",
            "proxy_http_version 1.1;",
            "proxy_set_header Host $host;",
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $nk_connection_upgrade;",
            "proxy_next_upstream error timeout http_502;",
            "proxy_connect_timeout 5s;",
            "proxy_send_timeout 60s;",
            "proxy_read_timeout 60s;",
            "proxy_buffer_size 16k;",
            "proxy_buffers 8 16k;",
            "proxy_busy_buffers_size 32k;",
        ]);
        // The map is at http level, before the blocks that use its variable; upgrade or nothing (keepalive stays on).
        Block(text, "map $http_upgrade $nk_connection_upgrade").Should().Equal(
            "map $http_upgrade $nk_connection_upgrade {", "default upgrade;", "''      '';", "}");
        text.IndexOf("map $http_upgrade", StringComparison.Ordinal).Should().BeLessThan(text.IndexOf("server {", StringComparison.Ordinal));
    }

    [Fact]
    public void Defaults_listen_on_80_for_any_host()
    {
        var server = Block(NginxConfig.Generate(App(), new NginxOptions()), "server");
        server.Should().Contain(["listen 80;", "server_name _;"]);
    }

    [Fact]
    public void Every_directive_ends_with_a_semicolon_and_braces_balance()
    {
        var text = NginxConfig.Generate(App(name: "api-v2.x"), new NginxOptions());
        foreach (var line in Directives(text))
            line.Should().Match(l => l.EndsWith(';') || l.EndsWith('{') || l == "}", $"\"{line}\" is a whole directive");
        text.Count(c => c == '{').Should().Be(text.Count(c => c == '}'));
        Regex.IsMatch(text, @"^upstream nk_api-v2\.x \{$", RegexOptions.Multiline).Should().BeTrue();
        Directives(text).Should().Contain("proxy_pass http://nk_api-v2.x;");
    }

    [Fact]
    public void An_app_without_a_port_is_refused_with_one_line()
    {
        var error = NginxConfig.Check(App(port: null), new NginxOptions());
        error.Should().NotBeNull().And.Contain("web").And.Contain("no port").And.NotContain("\n");
        var generate = () => NginxConfig.Generate(App(port: null), new NginxOptions());
        generate.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData("example.com; include /etc/passwd", "80")]
    [InlineData("", "80")]
    [InlineData("_", "80 }")]
    [InlineData("_", "80\nserver")]
    [InlineData("$host", "80")]
    public void Values_that_would_break_out_of_their_directive_are_refused(string serverName, string listen)
    {
        NginxConfig.CheckOptions(new NginxOptions { ServerName = serverName, Listen = listen }).Should().NotBeNull();
    }

    [Fact]
    public void Ordinary_values_are_accepted()
    {
        NginxConfig.CheckOptions(new NginxOptions { ServerName = "*.example.com example.com", Listen = "[::]:443 ssl" }).Should().BeNull();
    }
}
