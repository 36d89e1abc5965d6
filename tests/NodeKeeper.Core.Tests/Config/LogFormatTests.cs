using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

public class LogFormatTests
{
    [Fact]
    public void Log_format_is_text_by_default_json_when_asked_and_anything_else_is_an_error()
    {
        LoadApp(App()).Log.Format.Should().Be(LogFormat.Text);
        LoadApp(App("log = { format = \"json\", max_size = \"1M\" }")).Log.Should().Match<LogSpec>(l => l.Format == LogFormat.Json && l.MaxSize == 1024 * 1024);
        Errors(App("log = { format = \"xml\" }")).Should().ContainSingle().Which.Should().EndWith("log.format must be \"text\" or \"json\", got \"xml\"");
    }
}
