<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
<context>
    <name>AboutDialog</name>
    <message>
        <source>About LLMOS Desktop</source>
        <translation>关于 LLMOS Desktop</translation>
    </message>
    <message>
        <source>LLMOS Desktop {version}</source>
        <translation>LLMOS Desktop {version}</translation>
    </message>
    <message>
        <source>Engine backend: {backend}</source>
        <translation>引擎后端：{backend}</translation>
    </message>
    <message>
        <source>Local large language models in one window, with an OpenAI-compatible API.</source>
        <translation>在一个窗口中使用本地大语言模型，并提供兼容 OpenAI 的 API。</translation>
    </message>
    <message>
        <source>Logs: {folder}</source>
        <translation>日志：{folder}</translation>
    </message>
    <message>
        <source>Open Log Folder</source>
        <translation>打开日志文件夹</translation>
    </message>
    <message>
        <source>Licences</source>
        <translation>许可证</translation>
    </message>
    <message>
        <source>Build: development (running from source; the engine was compiled on this computer).</source>
        <translation>构建：开发版（从源代码运行；引擎在本机编译）。</translation>
    </message>
    <message>
        <source>Build: portable, for {baseline} processors or newer.</source>
        <translation>构建：通用版，适用于 {baseline} 或更新的处理器。</translation>
    </message>
    <message>
        <source>Build: portable.</source>
        <translation>构建：通用版。</translation>
    </message>
    <message>
        <source>Build: tuned to the processor of the computer it was built on; it may not run on other computers.</source>
        <translation>构建：针对构建它的计算机的处理器优化；在其他计算机上可能无法运行。</translation>
    </message>
    <message>
        <source>Build: unknown (this installation has no build information).</source>
        <translation>构建：未知（此安装没有构建信息）。</translation>
    </message>
    <message>
        <source>The starter model is included.</source>
        <translation>已包含入门模型。</translation>
    </message>
    <message>
        <source>The starter model is not included.</source>
        <translation>未包含入门模型。</translation>
    </message>
</context>
<context>
    <name>AddEngineDialog</name>
    <message>
        <source>Add a remote engine</source>
        <translation>添加远程引擎</translation>
    </message>
    <message>
        <source>Any server that speaks the OpenAI API: vLLM, Triton, TGI, llama.cpp&apos;s llama-server, Ollama or another LLMOS. The base URL is what an openai client takes as base_url.</source>
        <translation>任何提供 OpenAI API 的服务器：vLLM、Triton、TGI、llama.cpp 的 llama-server、Ollama 或另一个 LLMOS。基础 URL 就是 openai 客户端的 base_url。</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>&amp;Check the server&apos;s TLS certificate</source>
        <translation>校验服务器的 TLS 证书(&amp;C)</translation>
    </message>
    <message>
        <source>the system&apos;s certificate authorities</source>
        <translation>系统的证书颁发机构</translation>
    </message>
    <message>
        <source>Bro&amp;wse…</source>
        <translation>浏览(&amp;W)…</translation>
    </message>
    <message>
        <source>Choose a CA certificate file</source>
        <translation>选择 CA 证书文件</translation>
    </message>
    <message>
        <source> s</source>
        <translation> 秒</translation>
    </message>
    <message>
        <source>How long a reply may go without a word before it counts as stalled</source>
        <translation>回复多长时间没有任何输出即视为停滞</translation>
    </message>
    <message>
        <source>&amp;Name:</source>
        <translation>名称(&amp;N)：</translation>
    </message>
    <message>
        <source>Base &amp;URL:</source>
        <translation>基础 URL(&amp;U)：</translation>
    </message>
    <message>
        <source>API &amp;key:</source>
        <translation>API 密钥(&amp;K)：</translation>
    </message>
    <message>
        <source>CA &amp;file:</source>
        <translation>CA 文件(&amp;F)：</translation>
    </message>
    <message>
        <source>&amp;Timeout:</source>
        <translation>超时(&amp;T)：</translation>
    </message>
    <message>
        <source>The key is kept in the system keyring and sent only to this URL&apos;s host.</source>
        <translation>密钥保存在系统钥匙串中，只发送给此 URL 的主机。</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Base URL</source>
        <translation>基础 URL</translation>
    </message>
    <message>
        <source>CA file</source>
        <translation>CA 文件</translation>
    </message>
    <message>
        <source>Timeout</source>
        <translation>超时</translation>
    </message>
    <message>
        <source>{field}: {error}</source>
        <translation>{field}：{error}</translation>
    </message>
    <message>
        <source>Certificates (*.pem *.crt *.cer)</source>
        <translation>证书 (*.pem *.crt *.cer)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>所有文件 (*)</translation>
    </message>
</context>
<context>
    <name>AppListModel</name>
    <message>
        <source>update available</source>
        <translation>有更新</translation>
    </message>
    <message>
        <source>installed</source>
        <translation>已安装</translation>
    </message>
</context>
<context>
    <name>AppPage</name>
    <message>
        <source>← &amp;Back</source>
        <translation>← 返回(&amp;B)</translation>
    </message>
    <message>
        <source>Back to the list of apps</source>
        <translation>返回应用列表</translation>
    </message>
    <message>
        <source>&amp;Run</source>
        <translation>运行(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;Install</source>
        <translation>安装(&amp;I)</translation>
    </message>
    <message>
        <source>Re&amp;move</source>
        <translation>移除(&amp;M)</translation>
    </message>
    <message>
        <source>E&amp;xport…</source>
        <translation>导出(&amp;X)…</translation>
    </message>
    <message>
        <source>Save this app as a .llmapp file to share</source>
        <translation>将此应用保存为 .llmapp 文件以便分享</translation>
    </message>
    <message>
        <source>Edit a &amp;copy</source>
        <translation>编辑副本(&amp;C)</translation>
    </message>
    <message>
        <source>Open a copy of this app in the builder</source>
        <translation>在应用构建器中打开此应用的副本</translation>
    </message>
    <message>
        <source>Inputs</source>
        <translation>输入项</translation>
    </message>
    <message>
        <source>Recommended models</source>
        <translation>推荐模型</translation>
    </message>
    <message>
        <source>Tried with</source>
        <translation>已测试的模型</translation>
    </message>
    <message>
        <source>About</source>
        <translation>关于</translation>
    </message>
    <message>
        <source>by {author}</source>
        <translation>作者：{author}</translation>
    </message>
    <message>
        <source>version {version}</source>
        <translation>版本 {version}</translation>
    </message>
    <message>
        <source>licence: {licence}</source>
        <translation>许可证：{licence}</translation>
    </message>
    <message>
        <source>Id: {id}</source>
        <translation>Id：{id}</translation>
    </message>
    <message>
        <source>Tags: {tags}</source>
        <translation>标签：{tags}</translation>
    </message>
    <message>
        <source>Installed version: {version}</source>
        <translation>已安装版本：{version}</translation>
    </message>
    <message>
        <source>None</source>
        <translation>无</translation>
    </message>
    <message>
        <source>{low} to {high}</source>
        <translation>{low} 到 {high}</translation>
    </message>
    <message>
        <source>at least {low}</source>
        <translation>至少 {low}</translation>
    </message>
    <message>
        <source>at most {high}</source>
        <translation>最多 {high}</translation>
    </message>
    <message>
        <source>up to {n} characters</source>
        <translation>最多 {n} 个字符</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
    <message>
        <source>default: {value}</source>
        <translation>默认值：{value}</translation>
    </message>
    <message>
        <source>Any chat model (the app names none).</source>
        <translation>任意对话模型均可（此应用未指定模型）。</translation>
    </message>
    <message>
        <source>needs {n} tokens of context</source>
        <translation>需要 {n} 词元的上下文</translation>
    </message>
    <message>
        <source>Get</source>
        <translation>获取</translation>
    </message>
    <message>
        <source>Download {file}</source>
        <translation>下载 {file}</translation>
    </message>
    <message>
        <source>Download it on the Models page</source>
        <translation>在“模型”页面下载</translation>
    </message>
    <message>
        <source>&amp;Update to {version}</source>
        <translation>更新到 {version}(&amp;U)</translation>
    </message>
    <message>
        <source>Open in &amp;chat</source>
        <translation>在对话中打开(&amp;C)</translation>
    </message>
</context>
<context>
    <name>AppRowDelegate</name>
    <message>
        <source>Installed</source>
        <translation>已安装</translation>
    </message>
    <message>
        <source>Update</source>
        <translation>更新</translation>
    </message>
</context>
<context>
    <name>BuilderView</name>
    <message>
        <source>About the app</source>
        <translation>应用信息</translation>
    </message>
    <message>
        <source>org.example.my-app</source>
        <translation>org.example.my-app</translation>
    </message>
    <message>
        <source>comma separated</source>
        <translation>以逗号分隔</translation>
    </message>
    <message>
        <source>C&amp;hoose…</source>
        <translation>选择(&amp;H)…</translation>
    </message>
    <message>
        <source>A PNG of at most 256 × 256 pixels and 64 KiB</source>
        <translation>PNG 图片，最大 256 × 256 像素、64 KiB</translation>
    </message>
    <message>
        <source>No icon</source>
        <translation>无图标</translation>
    </message>
    <message>
        <source>&amp;Name (English):</source>
        <translation>名称（英文）(&amp;N)：</translation>
    </message>
    <message>
        <source>Name (Chinese):</source>
        <translation>名称（中文）：</translation>
    </message>
    <message>
        <source>&amp;Description (English):</source>
        <translation>描述（英文）(&amp;D)：</translation>
    </message>
    <message>
        <source>Description (Chinese):</source>
        <translation>描述（中文）：</translation>
    </message>
    <message>
        <source>&amp;Id:</source>
        <translation>Id(&amp;I)：</translation>
    </message>
    <message>
        <source>Category:</source>
        <translation>类别：</translation>
    </message>
    <message>
        <source>&amp;Mode:</source>
        <translation>模式(&amp;M)：</translation>
    </message>
    <message>
        <source>Author:</source>
        <translation>作者：</translation>
    </message>
    <message>
        <source>Version:</source>
        <translation>版本：</translation>
    </message>
    <message>
        <source>Licence:</source>
        <translation>许可证：</translation>
    </message>
    <message>
        <source>Tags:</source>
        <translation>标签：</translation>
    </message>
    <message>
        <source>Icon:</source>
        <translation>图标：</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>提示词</translation>
    </message>
    <message>
        <source>Translate into {{ language }}:

{{ text }}</source>
        <translation>翻译成 {{ language }}：

{{ text }}</translation>
    </message>
    <message>
        <source>comma separated; empty: none</source>
        <translation>以逗号分隔；留空：无</translation>
    </message>
    <message>
        <source>&amp;System prompt:</source>
        <translation>系统提示词(&amp;S)：</translation>
    </message>
    <message>
        <source>&amp;Template:</source>
        <translation>模板(&amp;T)：</translation>
    </message>
    <message>
        <source>Temperature:</source>
        <translation>温度：</translation>
    </message>
    <message>
        <source>Longest answer (tokens):</source>
        <translation>最长回答（词元）：</translation>
    </message>
    <message>
        <source>Stop at:</source>
        <translation>停止标记：</translation>
    </message>
    <message>
        <source>Inputs</source>
        <translation>输入项</translation>
    </message>
    <message>
        <source>Output and model</source>
        <translation>输出与模型</translation>
    </message>
    <message>
        <source>{&quot;type&quot;: &quot;object&quot;, &quot;properties&quot;: {…}}</source>
        <translation>{&quot;type&quot;: &quot;object&quot;, &quot;properties&quot;: {…}}</translation>
    </message>
    <message>
        <source>owner/name-GGUF</source>
        <translation>owner/name-GGUF</translation>
    </message>
    <message>
        <source>Output &amp;schema (JSON):</source>
        <translation>输出 Schema（JSON）(&amp;S)：</translation>
    </message>
    <message>
        <source>Recommended model:</source>
        <translation>推荐模型：</translation>
    </message>
    <message>
        <source>Its file:</source>
        <translation>模型文件：</translation>
    </message>
    <message>
        <source>Context it needs:</source>
        <translation>所需上下文：</translation>
    </message>
    <message>
        <source>Preview</source>
        <translation>预览</translation>
    </message>
    <message>
        <source>Try values here; the prompt below is what the model gets.</source>
        <translation>在这里试填输入值；下方的提示词就是模型收到的内容。</translation>
    </message>
    <message>
        <source>Keep these values as the app&apos;s example</source>
        <translation>将这些值保存为应用的示例</translation>
    </message>
    <message>
        <source>Rendered prompt</source>
        <translation>生成的提示词</translation>
    </message>
    <message>
        <source>&amp;New app</source>
        <translation>新建应用(&amp;N)</translation>
    </message>
    <message>
        <source>E&amp;xport .llmapp…</source>
        <translation>导出 .llmapp(&amp;X)…</translation>
    </message>
    <message>
        <source>&amp;Save and install</source>
        <translation>保存并安装(&amp;S)</translation>
    </message>
    <message>
        <source>My app</source>
        <translation>我的应用</translation>
    </message>
    <message>
        <source>Describe what the app does.</source>
        <translation>描述此应用的用途。</translation>
    </message>
    <message>
        <source>Text</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>Not JSON: {error}</source>
        <translation>不是有效的 JSON：{error}</translation>
    </message>
    <message>
        <source>The app is valid.</source>
        <translation>应用有效。</translation>
    </message>
    <message>
        <source>The prompt does not render: {error}</source>
        <translation>提示词无法生成：{error}</translation>
    </message>
    <message>
        <source>The app is not valid yet: see the form.</source>
        <translation>应用尚不有效：请查看表单中的提示。</translation>
    </message>
</context>
<context>
    <name>CatalogueView</name>
    <message>
        <source>Categories</source>
        <translation>类别</translation>
    </message>
    <message>
        <source>Search apps</source>
        <translation>搜索应用</translation>
    </message>
    <message>
        <source>&amp;Refresh catalogue</source>
        <translation>刷新应用目录(&amp;R)</translation>
    </message>
    <message>
        <source>Read the remote catalogue again (the built-in apps work offline)</source>
        <translation>重新读取远程应用目录（内置应用可离线使用）</translation>
    </message>
    <message>
        <source>Apps</source>
        <translation>应用</translation>
    </message>
    <message>
        <source>No app is installed yet: install one from the Catalogue tab.</source>
        <translation>还没有安装任何应用：请在“应用目录”选项卡中安装。</translation>
    </message>
    <message>
        <source>The catalogue is empty.</source>
        <translation>应用目录是空的。</translation>
    </message>
    <message>
        <source>No app matches this search.</source>
        <translation>没有与此搜索匹配的应用。</translation>
    </message>
    <message>
        <source>{n} apps</source>
        <translation>{n} 个应用</translation>
    </message>
</context>
<context>
    <name>ChatOptionsPanel</name>
    <message>
        <source>Chat settings</source>
        <translation>对话设置</translation>
    </message>
    <message>
        <source>Close the chat settings</source>
        <translation>关闭对话设置</translation>
    </message>
    <message>
        <source>The chat&apos;s model</source>
        <translation>此对话使用的模型</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Choose and load another with the Model list above.</source>
        <translation>要换用其他模型，请在上方的“模型”列表中选择并加载。</translation>
    </message>
    <message>
        <source>e.g. You are a helpful assistant.</source>
        <translation>例如：你是一个乐于助人的助手。</translation>
    </message>
    <message>
        <source>S&amp;ystem prompt:</source>
        <translation>系统提示词(&amp;Y)：</translation>
    </message>
    <message>
        <source>Sent first in every prompt of this chat; it is never dropped</source>
        <translation>在此对话的每次提示中最先发送，永远不会被省略</translation>
    </message>
    <message>
        <source>Temperat&amp;ure:</source>
        <translation>温度(&amp;U)：</translation>
    </message>
    <message>
        <source>Higher is more varied, lower more focused; 0 always picks the likeliest</source>
        <translation>越高越多样，越低越集中；为 0 时总是选择可能性最大的词元</translation>
    </message>
    <message>
        <source>Top &amp;P:</source>
        <translation>Top &amp;P：</translation>
    </message>
    <message>
        <source>Pick only from the likeliest tokens that make up this share</source>
        <translation>只从累计概率达到此比例的最可能词元中选择</translation>
    </message>
    <message>
        <source>Off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Top &amp;K:</source>
        <translation>Top &amp;K：</translation>
    </message>
    <message>
        <source>Pick only from this many likeliest tokens (0: no limit)</source>
        <translation>只从这么多个最可能的词元中选择（0：不限）</translation>
    </message>
    <message>
        <source>Min P:</source>
        <translation>Min P：</translation>
    </message>
    <message>
        <source>Drop tokens less likely than this share of the likeliest one</source>
        <translation>舍弃概率低于最可能词元此比例的词元</translation>
    </message>
    <message>
        <source>Repe&amp;at penalty:</source>
        <translation>重复惩罚(&amp;A)：</translation>
    </message>
    <message>
        <source>Above 1 makes repeating recent text less likely; 1 is off</source>
        <translation>大于 1 时减少重复最近的内容；为 1 时关闭</translation>
    </message>
    <message>
        <source>No limit</source>
        <translation>不限</translation>
    </message>
    <message>
        <source>Max token&amp;s:</source>
        <translation>最大词元数(&amp;S)：</translation>
    </message>
    <message>
        <source>The longest a reply may be, in tokens</source>
        <translation>一条回复最多可包含的词元数</translation>
    </message>
    <message>
        <source>App default</source>
        <translation>应用默认值</translation>
    </message>
    <message>
        <source> tokens</source>
        <translation> 词元</translation>
    </message>
    <message>
        <source>&amp;Context size:</source>
        <translation>上下文大小(&amp;C)：</translation>
    </message>
    <message>
        <source>Tokens the model sees at once; a change reloads the model at the next message</source>
        <translation>模型一次能看到的词元数；修改后会在下一条消息时重新加载模型</translation>
    </message>
    <message>
        <source>Random</source>
        <translation>随机</translation>
    </message>
    <message>
        <source>S&amp;eed:</source>
        <translation>随机种子(&amp;E)：</translation>
    </message>
    <message>
        <source>The same seed and settings give the same reply again</source>
        <translation>相同的种子和设置会再次得到相同的回复</translation>
    </message>
    <message>
        <source>No presets yet</source>
        <translation>还没有预设</translation>
    </message>
    <message>
        <source>Sa&amp;ved presets:</source>
        <translation>已保存的预设(&amp;V)：</translation>
    </message>
    <message>
        <source>Apply</source>
        <translation>应用</translation>
    </message>
    <message>
        <source>Apply the preset to this chat</source>
        <translation>将预设应用到此对话</translation>
    </message>
    <message>
        <source>Delete preset</source>
        <translation>删除预设</translation>
    </message>
    <message>
        <source>Name for a new preset</source>
        <translation>新预设的名称</translation>
    </message>
    <message>
        <source>Preset name</source>
        <translation>预设名称</translation>
    </message>
    <message>
        <source>Save as preset</source>
        <translation>保存为预设</translation>
    </message>
    <message>
        <source>The model that is loaded</source>
        <translation>当前已加载的模型</translation>
    </message>
</context>
<context>
    <name>ChatPage</name>
    <message>
        <source>&amp;Model:</source>
        <translation>模型(&amp;M)：</translation>
    </message>
    <message>
        <source>No model yet — open a GGUF file</source>
        <translation>尚无模型——请打开 GGUF 文件</translation>
    </message>
    <message>
        <source>&amp;Open GGUF…</source>
        <translation>打开 GGUF(&amp;O)…</translation>
    </message>
    <message>
        <source>&amp;Load</source>
        <translation>加载(&amp;L)</translation>
    </message>
    <message>
        <source>Type a message — Enter sends, Shift+Enter starts a new line</source>
        <translation>输入消息——Enter 发送，Shift+Enter 换行</translation>
    </message>
    <message>
        <source>Send</source>
        <translation>发送</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>It restarts with your next message.</source>
        <translation>发送下一条消息时会自动重启。</translation>
    </message>
    <message>
        <source>Open a GGUF model</source>
        <translation>打开 GGUF 模型</translation>
    </message>
    <message>
        <source>GGUF models (*.gguf)</source>
        <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>所有文件 (*)</translation>
    </message>
    <message>
        <source>Choose a model first, or open a GGUF file.</source>
        <translation>请先选择模型，或打开一个 GGUF 文件。</translation>
    </message>
    <message>
        <source>Restarting the engine: {stage}</source>
        <translation>正在重启引擎：{stage}</translation>
    </message>
    <message>
        <source>Preparing…</source>
        <translation>正在准备…</translation>
    </message>
    <message>
        <source>Checking the starter model (first time only)…</source>
        <translation>正在检查入门模型（仅首次）…</translation>
    </message>
    <message>
        <source>This installation has no starter model.</source>
        <translation>此安装不包含入门模型。</translation>
    </message>
    <message>
        <source>Checking the model file…</source>
        <translation>正在检查模型文件…</translation>
    </message>
    <message>
        <source>Starting the engine…</source>
        <translation>正在启动引擎…</translation>
    </message>
    <message>
        <source>The model could not be loaded: {reason}</source>
        <translation>无法加载模型：{reason}</translation>
    </message>
    <message>
        <source>Loading cancelled</source>
        <translation>已取消加载</translation>
    </message>
    <message>
        <source>Unexpected error while loading: {error}</source>
        <translation>加载时发生意外错误：{error}</translation>
    </message>
    <message>
        <source>Loaded</source>
        <translation>已加载</translation>
    </message>
    <message>
        <source>The model is loaded, but settings could not be saved: {error}</source>
        <translation>模型已加载，但无法保存设置：{error}</translation>
    </message>
    <message>
        <source>Not loaded</source>
        <translation>未加载</translation>
    </message>
    <message>
        <source>Restarting the engine…</source>
        <translation>正在重启引擎…</translation>
    </message>
    <message>
        <source>Engine restarted</source>
        <translation>引擎已重启</translation>
    </message>
    <message>
        <source>Send again to restart it.</source>
        <translation>再次发送即可重启引擎。</translation>
    </message>
    <message>
        <source>Unexpected error: {error}</source>
        <translation>意外错误：{error}</translation>
    </message>
    <message>
        <source>Load the model for this chat</source>
        <translation>为此对话加载模型</translation>
    </message>
    <message>
        <source>Chat se&amp;ttings</source>
        <translation>对话设置(&amp;T)</translation>
    </message>
    <message>
        <source>System prompt, sampling, reply length and context size of this chat</source>
        <translation>此对话的系统提示词、采样、回复长度和上下文大小</translation>
    </message>
    <message>
        <source>Loading progress</source>
        <translation>加载进度</translation>
    </message>
    <message>
        <source>Conversation</source>
        <translation>对话内容</translation>
    </message>
    <message>
        <source>Type a message below to start. Replies appear here as they are written; every chat is saved as you go.</source>
        <translation>在下方输入消息即可开始。回复会在生成的同时显示在这里；所有对话都会随时自动保存。</translation>
    </message>
    <message>
        <source>Editing your message: sending keeps the old version. Esc cancels.</source>
        <translation>正在编辑你的消息：发送后旧版本仍会保留。按 Esc 取消。</translation>
    </message>
    <message>
        <source>Cancel editing</source>
        <translation>取消编辑</translation>
    </message>
    <message>
        <source>Message</source>
        <translation>消息</translation>
    </message>
    <message>
        <source>Stop the reply (Esc); what was written is kept</source>
        <translation>停止回复（Esc）；已生成的内容会保留</translation>
    </message>
    <message>
        <source>Context used</source>
        <translation>已用上下文</translation>
    </message>
    <message>
        <source>Tokens of this conversation in the model&apos;s context after the last reply; when it is full, the oldest turns are left out of the prompt</source>
        <translation>上一条回复之后，此对话在模型上下文中占用的词元数；占满后，最早的几轮对话会从提示中省略</translation>
    </message>
    <message>
        <source>New chat</source>
        <translation>新对话</translation>
    </message>
    <message>
        <source>Search chats</source>
        <translation>搜索对话</translation>
    </message>
    <message>
        <source>Stop the reply</source>
        <translation>停止回复</translation>
    </message>
    <message>
        <source>Copy the last reply</source>
        <translation>复制最后一条回复</translation>
    </message>
    <message>
        <source>Type a message — Ctrl+Enter sends, Enter starts a new line</source>
        <translation>输入消息——按 Ctrl+Enter 发送，按 Enter 换行</translation>
    </message>
    <message>
        <source>Your saved chats cannot be opened, so chats are not saved this time: {error}</source>
        <translation>无法打开已保存的对话，因此本次运行中的对话不会被保存：{error}</translation>
    </message>
    <message>
        <source>The chats file was damaged ({damage}) and could not be used. It was kept, unchanged, as {path}; a new, empty chats file was started.</source>
        <translation>对话文件已损坏（{damage}），无法使用。它已原样保留为 {path}；并已新建一个空的对话文件。</translation>
    </message>
    <message>
        <source>Stop the reply first, then open another chat.</source>
        <translation>请先停止回复，再打开其他对话。</translation>
    </message>
    <message>
        <source>Stop the reply first, then delete the chat.</source>
        <translation>请先停止回复，再删除此对话。</translation>
    </message>
    <message>
        <source>chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>Export the chat</source>
        <translation>导出对话</translation>
    </message>
    <message>
        <source>Markdown (*.md)</source>
        <translation>Markdown (*.md)</translation>
    </message>
    <message>
        <source>JSON (*.json)</source>
        <translation>JSON (*.json)</translation>
    </message>
    <message>
        <source>Import a chat</source>
        <translation>导入对话</translation>
    </message>
    <message>
        <source>Chat exports (*.json)</source>
        <translation>导出的对话 (*.json)</translation>
    </message>
    <message>
        <source>The chat could not be exported: {error}</source>
        <translation>无法导出对话：{error}</translation>
    </message>
    <message>
        <source>The chat was saved as {path}.</source>
        <translation>对话已保存为 {path}。</translation>
    </message>
    <message>
        <source>{file} could not be imported: {error}</source>
        <translation>无法导入 {file}：{error}</translation>
    </message>
    <message>
        <source>That chat is gone (deleted elsewhere).</source>
        <translation>该对话已不存在（已在别处删除）。</translation>
    </message>
    <message numerus="yes">
        <source>The conversation no longer fits the model&apos;s context, so the %n oldest message(s) were left out of the prompt for the reply above (the system prompt is kept). Start a new chat, or choose a larger context size in Chat settings.</source>
        <translation>
            <numerusform>对话已超出模型的上下文，因此生成上面这条回复时，最早的 %n 条消息没有放入提示（系统提示词仍保留）。可以开始一个新对话，或在“对话设置”中选择更大的上下文。</numerusform>
        </translation>
    </message>
    <message>
        <source>Context size: {tokens} tokens.</source>
        <translation>上下文大小：{tokens} 词元。</translation>
    </message>
    <message>
        <source>The chat&apos;s settings could not be saved: {error}</source>
        <translation>无法保存此对话的设置：{error}</translation>
    </message>
    <message>
        <source>There is no model to reply yet: open a GGUF file, or get a model from the Models page.</source>
        <translation>还没有可以回复的模型：请打开一个 GGUF 文件，或在“模型”页面获取模型。</translation>
    </message>
    <message>
        <source>Choose another model in the Model list and press Load (this chat then uses it), or get one from the Models page.</source>
        <translation>请在“模型”列表中选择其他模型并点击“加载”（此对话随后会使用它），或在“模型”页面获取模型。</translation>
    </message>
    <message>
        <source>Context: {size} tokens</source>
        <translation>上下文：{size} 词元</translation>
    </message>
    <message>
        <source>Context: not measured yet</source>
        <translation>上下文：尚未统计</translation>
    </message>
    <message>
        <source>Context: {used} of {size} tokens ({percent}%)</source>
        <translation>上下文：已用 {used} / {size} 词元（{percent}%）</translation>
    </message>
    <message>
        <source>the file is {size} bytes; an export may have at most {limit}</source>
        <translation>文件大小为 {size} 字节，而导出文件最大只能为 {limit} 字节</translation>
    </message>
    <message>
        <source>{model} on the remote engine {engine}</source>
        <translation>远程引擎 {engine} 上的 {model}</translation>
    </message>
    <message>
        <source>{engine} · {model}</source>
        <translation>{engine} · {model}</translation>
    </message>
    <message>
        <source>The remote engine {engine}: {message}</source>
        <translation>远程引擎 {engine}：{message}</translation>
    </message>
    <message>
        <source>it did not answer in time</source>
        <translation>它没有及时响应</translation>
    </message>
    <message>
        <source>remote engines are not available in this window</source>
        <translation>此窗口中不能使用远程引擎</translation>
    </message>
    <message>
        <source>This chat uses {model} on the remote engine {engine}, which cannot be used: {problem}. Choose another model in the Model list.</source>
        <translation>此对话使用远程引擎 {engine} 上的 {model}，但它无法使用：{problem}。请在模型列表中选择其他模型。</translation>
    </message>
</context>
<context>
    <name>ChatSidebar</name>
    <message>
        <source>&amp;New chat</source>
        <translation>新对话(&amp;N)</translation>
    </message>
    <message>
        <source>Start a new chat (Ctrl+N)</source>
        <translation>开始新对话（Ctrl+N）</translation>
    </message>
    <message>
        <source>Search chats (Ctrl+F)</source>
        <translation>搜索对话（Ctrl+F）</translation>
    </message>
    <message>
        <source>Search chats</source>
        <translation>搜索对话</translation>
    </message>
    <message>
        <source>Chats</source>
        <translation>对话列表</translation>
    </message>
    <message>
        <source>&amp;Rename</source>
        <translation>重命名(&amp;R)</translation>
    </message>
    <message>
        <source>Rename the chat (F2)</source>
        <translation>重命名对话（F2）</translation>
    </message>
    <message>
        <source>Rename the chat</source>
        <translation>重命名对话</translation>
    </message>
    <message>
        <source>&amp;Delete</source>
        <translation>删除(&amp;D)</translation>
    </message>
    <message>
        <source>Delete the chat (Delete); it can be undone</source>
        <translation>删除对话（Delete 键）；可以撤销</translation>
    </message>
    <message>
        <source>Delete the chat</source>
        <translation>删除对话</translation>
    </message>
    <message>
        <source>E&amp;xport</source>
        <translation>导出(&amp;X)</translation>
    </message>
    <message>
        <source>Save the chat as Markdown or JSON</source>
        <translation>将对话保存为 Markdown 或 JSON</translation>
    </message>
    <message>
        <source>Export the chat</source>
        <translation>导出对话</translation>
    </message>
    <message>
        <source>As Markdown…</source>
        <translation>导出为 Markdown…</translation>
    </message>
    <message>
        <source>As JSON (can be imported)…</source>
        <translation>导出为 JSON（可再次导入）…</translation>
    </message>
    <message>
        <source>&amp;Import…</source>
        <translation>导入(&amp;I)…</translation>
    </message>
    <message>
        <source>Add a chat from a JSON export</source>
        <translation>从导出的 JSON 文件添加对话</translation>
    </message>
    <message>
        <source>Import a chat</source>
        <translation>导入对话</translation>
    </message>
    <message>
        <source>Untitled chat</source>
        <translation>未命名对话</translation>
    </message>
    <message>
        <source>{title}
Last activity: {when}</source>
        <translation>{title}
最后活动：{when}</translation>
    </message>
    <message>
        <source>No chat matches “{text}”.</source>
        <translation>没有与“{text}”匹配的对话。</translation>
    </message>
    <message>
        <source>Your chats appear here.</source>
        <translation>你的对话会显示在这里。</translation>
    </message>
</context>
<context>
    <name>ChatTranscript</name>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
</context>
<context>
    <name>ComparisonView</name>
    <message>
        <source>Comparison</source>
        <translation>比较</translation>
    </message>
    <message>
        <source>Co&amp;mparison:</source>
        <translation>比较(&amp;M)：</translation>
    </message>
    <message>
        <source>&amp;Add models…</source>
        <translation>添加模型(&amp;A)…</translation>
    </message>
    <message>
        <source>Re&amp;move</source>
        <translation>移除(&amp;M)</translation>
    </message>
    <message>
        <source>Take the selected models out of this comparison</source>
        <translation>从此比较中移除所选模型</translation>
    </message>
    <message>
        <source>Sa&amp;ve as…</source>
        <translation>另存为(&amp;V)…</translation>
    </message>
    <message>
        <source>Keep these models as a comparison to reopen later</source>
        <translation>将这些模型保存为比较，以后可再次打开</translation>
    </message>
    <message>
        <source>Re&amp;fresh</source>
        <translation>刷新(&amp;F)</translation>
    </message>
    <message>
        <source>Measurements</source>
        <translation>测量结果</translation>
    </message>
    <message>
        <source>Quality shown in the plots</source>
        <translation>图中显示的质量指标</translation>
    </message>
    <message>
        <source>&amp;Quality:</source>
        <translation>质量(&amp;Q)：</translation>
    </message>
    <message>
        <source>Quality against generation speed</source>
        <translation>质量与生成速度</translation>
    </message>
    <message>
        <source>Quality against file size</source>
        <translation>质量与文件大小</translation>
    </message>
    <message>
        <source>All measured models</source>
        <translation>所有已测量的模型</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Type</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>File size</source>
        <translation>文件大小</translation>
    </message>
    <message>
        <source>Memory</source>
        <translation>内存</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>Prompt (tokens/s)</source>
        <translation>提示处理（词元/秒）</translation>
    </message>
    <message>
        <source>Generation (tokens/s)</source>
        <translation>生成（词元/秒）</translation>
    </message>
    <message>
        <source>Measured while the speed was measured</source>
        <translation>在测量速度时实测</translation>
    </message>
    <message>
        <source>Estimated from the file&apos;s header for a {n}-token context</source>
        <translation>根据文件头估算（上下文 {n} 个词元）</translation>
    </message>
    <message>
        <source>{dataset}, {n} pairs</source>
        <translation>{dataset}，{n} 对</translation>
    </message>
    <message>
        <source>On {text}, context {n}; ± is the standard error</source>
        <translation>文本 {text}，上下文 {n}；± 为标准误差</translation>
    </message>
    <message>
        <source>Nothing measured yet: quantize a model or measure one, and it appears here.</source>
        <translation>尚无测量结果：量化或测量一个模型后，它会显示在这里。</translation>
    </message>
    <message>
        <source>The perplexities were measured on different texts or context sizes: compare only those measured alike (hover over a figure to see).</source>
        <translation>这些困惑度是在不同文本或上下文大小下测得的：只比较测量条件相同的结果（将鼠标悬停在数值上可查看）。</translation>
    </message>
    <message>
        <source>Perplexity (lower is better)</source>
        <translation>困惑度（越低越好）</translation>
    </message>
    <message>
        <source>{score} (higher is better)</source>
        <translation>{score}（越高越好）</translation>
    </message>
    <message>
        <source>better</source>
        <translation>更好</translation>
    </message>
    <message>
        <source>Generation speed (tokens/s)</source>
        <translation>生成速度（词元/秒）</translation>
    </message>
    <message>
        <source>Measure the speed and the quality of a model to see it here.</source>
        <translation>测量模型的速度和质量后即可在此查看。</translation>
    </message>
    <message>
        <source>File size (MB)</source>
        <translation>文件大小（MB）</translation>
    </message>
    <message>
        <source>Measure the quality of a model to see it here.</source>
        <translation>测量模型的质量后即可在此查看。</translation>
    </message>
    <message>
        <source>{speed} tokens/s</source>
        <translation>{speed} 词元/秒</translation>
    </message>
</context>
<context>
    <name>CpuNotice</name>
    <message>
        <source>This processor is not supported</source>
        <translation>不支持此处理器</translation>
    </message>
    <message>
        <source>This copy of LLMOS Desktop was built for the processor of the computer it was built on.</source>
        <translation>此 LLMOS Desktop 副本是针对构建它的计算机的处理器构建的。</translation>
    </message>
    <message>
        <source>This copy of LLMOS Desktop was built for {baseline} processors.</source>
        <translation>此 LLMOS Desktop 副本是为 {baseline} 处理器构建的。</translation>
    </message>
    <message>
        <source>This copy of LLMOS Desktop was built for newer processors.</source>
        <translation>此 LLMOS Desktop 副本是为较新的处理器构建的。</translation>
    </message>
    <message>
        <source>This computer&apos;s processor lacks {features}, which the chat engine needs. {built} Loading a model here would stop the engine with an &apos;illegal instruction&apos; error.</source>
        <translation>此计算机的处理器缺少聊天引擎所需的 {features}。{built}在此加载模型会使引擎因“非法指令”错误而停止。</translation>
    </message>
    <message>
        <source>Install LLMOS Desktop from its source code instead ({url}, the first command of its README): pip then compiles the engine for this processor. Or use a build made for older processors.</source>
        <translation>请改为从源代码安装 LLMOS Desktop（{url}，其 README 中的第一条命令）：pip 会为此处理器编译引擎。或者使用为较旧处理器构建的版本。</translation>
    </message>
</context>
<context>
    <name>DeveloperPage</name>
    <message>
        <source>Developer</source>
        <translation>开发者</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>API server</source>
        <translation>API 服务器</translation>
    </message>
    <message>
        <source>&amp;Serve the API to other programs on this computer or network</source>
        <translation>向本机或网络上的其他程序提供 API(&amp;S)</translation>
    </message>
    <message>
        <source>API server state</source>
        <translation>API 服务器状态</translation>
    </message>
    <message>
        <source>&amp;Port:</source>
        <translation>端口(&amp;P)：</translation>
    </message>
    <message>
        <source>This &amp;computer only (127.0.0.1)</source>
        <translation>仅本机(&amp;C) (127.0.0.1)</translation>
    </message>
    <message>
        <source>Other devices on the local &amp;network (0.0.0.0)</source>
        <translation>局域网中的其他设备(&amp;N) (0.0.0.0)</translation>
    </message>
    <message>
        <source>Reachable from:</source>
        <translation>可访问范围：</translation>
    </message>
    <message>
        <source>This computer only: programs on this computer can connect, nothing else. Local network: any device on your network (home, office, café Wi-Fi) that has the key can use the model and read what it writes; the key is required and travels unencrypted (plain HTTP), so choose it only on a network you trust.</source>
        <translation>仅本机：只有这台电脑上的程序可以连接。局域网：网络中（家庭、办公室、咖啡馆 Wi-Fi）任何拥有密钥的设备都可以使用模型并读取它写的内容；此时必须设置密钥，且密钥以明文（普通 HTTP）传输，因此只在你信任的网络上选择它。</translation>
    </message>
    <message>
        <source>Copy the base URL</source>
        <translation>复制基础 URL</translation>
    </message>
    <message>
        <source>Base &amp;URL:</source>
        <translation>基础 URL(&amp;U)：</translation>
    </message>
    <message>
        <source>Require an API &amp;key</source>
        <translation>需要 API 密钥(&amp;K)</translation>
    </message>
    <message>
        <source>Copy the API key</source>
        <translation>复制 API 密钥</translation>
    </message>
    <message>
        <source>&amp;Regenerate</source>
        <translation>重新生成(&amp;R)</translation>
    </message>
    <message>
        <source>Make a new API key</source>
        <translation>生成新的 API 密钥</translation>
    </message>
    <message>
        <source>Programs that use the old key must be given the new one</source>
        <translation>使用旧密钥的程序需要换用新密钥</translation>
    </message>
    <message>
        <source>API key:</source>
        <translation>API 密钥：</translation>
    </message>
    <message>
        <source>Programs send the key as a bearer token (Authorization: Bearer KEY), as the openai clients do with api_key. It opens only this server&apos;s /v1 routes.</source>
        <translation>程序以 Bearer 令牌发送密钥（Authorization: Bearer KEY），openai 客户端的 api_key 就是这样做的。它只能访问此服务器的 /v1 路由。</translation>
    </message>
    <message>
        <source>Example code</source>
        <translation>示例代码</translation>
    </message>
    <message>
        <source>Request log</source>
        <translation>请求日志</translation>
    </message>
    <message>
        <source>Log the prompt &amp;text of each request</source>
        <translation>记录每个请求的提示词文本(&amp;T)</translation>
    </message>
    <message>
        <source>C&amp;lear</source>
        <translation>清空(&amp;L)</translation>
    </message>
    <message>
        <source>Clear the request log shown here</source>
        <translation>清空这里显示的请求日志</translation>
    </message>
    <message>
        <source>The last 500 requests to the engine, this window&apos;s replies included. Prompts are never kept unless logging them is on, and the log is kept in memory only: it is gone when the engine stops.</source>
        <translation>引擎最近的 500 个请求，包括本窗口的回复。除非开启记录，否则从不保存提示词；日志只保存在内存中，引擎停止后即消失。</translation>
    </message>
    <message>
        <source>Engine</source>
        <translation>引擎</translation>
    </message>
    <message>
        <source> tokens</source>
        <translation> 词元</translation>
    </message>
    <message>
        <source>Requests served at once; they share the context size</source>
        <translation>同时处理的请求数；它们共享上下文大小</translation>
    </message>
    <message>
        <source>Parallel sl&amp;ots:</source>
        <translation>并行槽位(&amp;O)：</translation>
    </message>
    <message>
        <source> min</source>
        <translation> 分钟</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>从不</translation>
    </message>
    <message>
        <source>Unload the model after this long without requests; the next one loads it</source>
        <translation>在没有请求这么久之后卸载模型；下一个请求会重新加载它</translation>
    </message>
    <message>
        <source>Web pages allowed to call the API from a browser, separated by commas</source>
        <translation>允许在浏览器中调用 API 的网页来源，用逗号分隔</translation>
    </message>
    <message>
        <source>From other devices: {urls}</source>
        <translation>其他设备访问：{urls}</translation>
    </message>
    <message>
        <source>From other devices: this computer&apos;s network address, port {port}</source>
        <translation>其他设备访问：本机的网络地址，端口 {port}</translation>
    </message>
    <message>
        <source>Not serving: {error}</source>
        <translation>未在提供服务：{error}</translation>
    </message>
    <message>
        <source>Starting the API server…</source>
        <translation>正在启动 API 服务器…</translation>
    </message>
    <message>
        <source>this computer only</source>
        <translation>仅本机</translation>
    </message>
    <message>
        <source>this computer and the local network</source>
        <translation>本机和局域网</translation>
    </message>
    <message>
        <source>Serving at {url} ({where}).</source>
        <translation>正在 {url} 提供服务（{where}）。</translation>
    </message>
    <message>
        <source>No model is loaded yet: load one on the Chat or Models page; until then requests get an error saying so.</source>
        <translation>尚未加载模型：请在聊天或模型页面加载一个；在此之前，请求会收到说明这一点的错误。</translation>
    </message>
    <message>
        <source>On: it starts with the engine.</source>
        <translation>已开启：随引擎一起启动。</translation>
    </message>
    <message>
        <source>Off. Only this window uses the engine.</source>
        <translation>已关闭。只有本窗口使用引擎。</translation>
    </message>
    <message>
        <source>This was not changed: {error}</source>
        <translation>未作更改：{error}</translation>
    </message>
    <message>
        <source>The API was not opened to the local network: that needs an API key. Turn on “Require an API key” first.</source>
        <translation>API 未向局域网开放：这需要 API 密钥。请先开启“需要 API 密钥”。</translation>
    </message>
    <message>
        <source>The key stays required while the API is open to the local network. Choose “This computer only” first.</source>
        <translation>API 向局域网开放时必须使用密钥。请先选择“仅本机”。</translation>
    </message>
    <message>
        <source>A new key was made. Programs that used the old one must use this one.</source>
        <translation>已生成新密钥。使用旧密钥的程序必须改用这个。</translation>
    </message>
    <message>
        <source>The base URL was copied.</source>
        <translation>已复制基础 URL。</translation>
    </message>
    <message>
        <source>The API key was copied.</source>
        <translation>已复制 API 密钥。</translation>
    </message>
    <message>
        <source>The example was copied.</source>
        <translation>已复制示例。</translation>
    </message>
    <message>
        <source>The API server could not be started: {error}</source>
        <translation>无法启动 API 服务器：{error}</translation>
    </message>
    <message>
        <source>Settings could not be saved to {path}: {error}</source>
        <translation>无法将设置保存到 {path}：{error}</translation>
    </message>
    <message>
        <source>Context size and parallel slots apply the next time a model is loaded; parallel slots share the context between them. Unloading after idle applies the next time the engine starts. CORS origins apply at once. The same settings exist for llmos serve: --ctx, --parallel, --keep-alive and --cors-origin.</source>
        <translation>上下文大小和并行槽位在下次加载模型时生效；各并行槽位共享上下文。空闲后卸载在引擎下次启动时生效。CORS 来源立即生效。llmos serve 也有相同的设置：--ctx、--parallel、--keep-alive 和 --cors-origin。</translation>
    </message>
    <message>
        <source>Conte&amp;xt size:</source>
        <translation>上下文大小(&amp;X)：</translation>
    </message>
    <message>
        <source>Unload &amp;after idle:</source>
        <translation>空闲后卸载(&amp;A)：</translation>
    </message>
    <message>
        <source>CORS orig&amp;ins:</source>
        <translation>CORS 来源(&amp;I)：</translation>
    </message>
</context>
<context>
    <name>DownloadRow</name>
    <message>
        <source>Progress of {name}</source>
        <translation>{name} 的下载进度</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Cancel the download of {name}</source>
        <translation>取消下载 {name}</translation>
    </message>
    <message>
        <source>Enter a token…</source>
        <translation>输入令牌…</translation>
    </message>
    <message>
        <source>Enter a Hugging Face token</source>
        <translation>输入 Hugging Face 令牌</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Retry</source>
        <translation>重试</translation>
    </message>
    <message>
        <source>{action} the download of {name}</source>
        <translation>{action}下载 {name}</translation>
    </message>
    <message>
        <source>Pause</source>
        <translation>暂停</translation>
    </message>
    <message>
        <source>Pause the download of {name}</source>
        <translation>暂停下载 {name}</translation>
    </message>
</context>
<context>
    <name>DownloadsView</name>
    <message>
        <source>No downloads. Find a model under Discover, or pick one of the recommended models in the empty library.</source>
        <translation>没有下载任务。可以在“发现”中查找模型，或在空的模型库中选择一个推荐模型。</translation>
    </message>
</context>
<context>
    <name>EngineStatusBar</name>
    <message>
        <source>Engine state</source>
        <translation>引擎状态</translation>
    </message>
    <message>
        <source>Backend</source>
        <translation>后端</translation>
    </message>
    <message>
        <source>Where the model runs (CPU, CUDA, Metal, Vulkan)</source>
        <translation>模型运行的位置（CPU、CUDA、Metal、Vulkan）</translation>
    </message>
    <message>
        <source>Context size</source>
        <translation>上下文大小</translation>
    </message>
    <message>
        <source>Context size: tokens the model can see at once</source>
        <translation>上下文大小：模型一次能看到的词元数</translation>
    </message>
    <message>
        <source>Engine memory</source>
        <translation>引擎内存</translation>
    </message>
    <message>
        <source>Memory the engine process uses</source>
        <translation>引擎进程占用的内存</translation>
    </message>
    <message>
        <source>Last reply speed</source>
        <translation>上次回复速度</translation>
    </message>
    <message>
        <source>Context {tokens}</source>
        <translation>上下文 {tokens}</translation>
    </message>
    <message>
        <source>Memory {size}</source>
        <translation>内存 {size}</translation>
    </message>
    <message>
        <source>{speed} tokens/s</source>
        <translation>{speed} 词元/秒</translation>
    </message>
    <message>
        <source>first token {seconds} s</source>
        <translation>首词元 {seconds} 秒</translation>
    </message>
    <message>
        <source>the model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Loading {model}…</source>
        <translation>正在加载 {model}…</translation>
    </message>
    <message>
        <source>Loading {model}… {percent}%</source>
        <translation>正在加载 {model}… {percent}%</translation>
    </message>
    <message>
        <source>Ready · {model}</source>
        <translation>就绪 · {model}</translation>
    </message>
    <message>
        <source>Replying · {model}</source>
        <translation>正在回复 · {model}</translation>
    </message>
    <message>
        <source>Engine stopped · it restarts with the next message</source>
        <translation>引擎已停止 · 发送下一条消息时会自动重启</translation>
    </message>
    <message>
        <source>No model loaded</source>
        <translation>未加载模型</translation>
    </message>
    <message>
        <source>API requests</source>
        <translation>API 请求</translation>
    </message>
    <message>
        <source>Other programs&apos; requests are served in turn with this window&apos;s replies</source>
        <translation>其他程序的请求与本窗口的回复轮流处理</translation>
    </message>
    <message>
        <source>Busy with an API request</source>
        <translation>正在处理一个 API 请求</translation>
    </message>
    <message>
        <source>Busy with {count} API requests</source>
        <translation>正在处理 {count} 个 API 请求</translation>
    </message>
</context>
<context>
    <name>EnginesSection</name>
    <message>
        <source>Remote engines</source>
        <translation>远程引擎</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Base URL</source>
        <translation>基础 URL</translation>
    </message>
    <message>
        <source>State</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>No remote engine yet.</source>
        <translation>还没有远程引擎。</translation>
    </message>
    <message>
        <source>Add a remote engine</source>
        <translation>添加远程引擎</translation>
    </message>
    <message>
        <source>Check the selected remote engine</source>
        <translation>检查所选的远程引擎</translation>
    </message>
    <message>
        <source>Remo&amp;ve</source>
        <translation>移除(&amp;V)</translation>
    </message>
    <message>
        <source>Remove the selected remote engine</source>
        <translation>移除所选的远程引擎</translation>
    </message>
    <message>
        <source>Remove {name}?</source>
        <translation>移除 {name}？</translation>
    </message>
    <message>
        <source>Remove the engine {name} and forget its key? Chats that used its models keep their messages.</source>
        <translation>移除引擎 {name} 并删除它的密钥？使用过其模型的对话会保留消息。</translation>
    </message>
    <message>
        <source>The list of engines could not be read: {error}</source>
        <translation>无法读取引擎列表：{error}</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>正在检查…</translation>
    </message>
    <message>
        <source>{name} was not removed: {error}</source>
        <translation>{name} 未被移除：{error}</translation>
    </message>
    <message>
        <source>Not checked yet</source>
        <translation>尚未检查</translation>
    </message>
    <message>
        <source>and {count} more</source>
        <translation>等另外 {count} 个</translation>
    </message>
    <message>
        <source>Models: {models}</source>
        <translation>模型：{models}</translation>
    </message>
    <message>
        <source>Reachable, key accepted, but it serves no model</source>
        <translation>可以访问，密钥已接受，但它没有提供任何模型</translation>
    </message>
    <message>
        <source>Reachable, key accepted, 1 model</source>
        <translation>可以访问，密钥已接受，1 个模型</translation>
    </message>
    <message>
        <source>Reachable, key accepted, {count} models</source>
        <translation>可以访问，密钥已接受，{count} 个模型</translation>
    </message>
    <message>
        <source>Add…</source>
        <translation>添加…</translation>
    </message>
    <message>
        <source>Check</source>
        <translation>检查</translation>
    </message>
    <message>
        <source>OpenAI-compatible servers whose models the chat can use, such as a team&apos;s vLLM or Triton server. Their keys are kept in the system keyring (or a file only you can read).</source>
        <translation>聊天可以使用其模型的 OpenAI 兼容服务器，例如团队的 vLLM 或 Triton 服务器。它们的密钥保存在系统密钥环中（或只有你能读取的文件中）。</translation>
    </message>
</context>
<context>
    <name>FirstRunPanel</name>
    <message>
        <source>Your library is empty</source>
        <translation>模型库是空的</translation>
    </message>
    <message>
        <source>Get a model to chat with. These small instruct models suit this computer; their size and checksum come from the Hub when the download starts.</source>
        <translation>先获取一个模型来开始对话。以下小型指令模型适合这台电脑；开始下载时会从 Hub 获取它们的大小和校验和。</translation>
    </message>
    <message>
        <source>Looking for models that fit this computer…</source>
        <translation>正在查找适合这台电脑的模型…</translation>
    </message>
    <message>
        <source>&amp;Browse the Hub…</source>
        <translation>浏览 Hub(&amp;B)…</translation>
    </message>
    <message>
        <source>Import a GG&amp;UF file…</source>
        <translation>导入 GGUF 文件(&amp;U)…</translation>
    </message>
    <message>
        <source>Get a better model</source>
        <translation>获取更好的模型</translation>
    </message>
    <message>
        <source>LLMOS Desktop comes with a very small starter model. These instruct models suit this computer and answer far better; their size and checksum come from the Hub when the download starts.</source>
        <translation>LLMOS Desktop 自带一个非常小的入门模型。以下指令模型适合这台电脑，回答质量要好得多；开始下载时会从 Hub 获取它们的大小和校验和。</translation>
    </message>
    <message>
        <source>This computer: {ram} of memory shared with its GPU.</source>
        <translation>这台电脑：{ram} 内存，与 GPU 共享。</translation>
    </message>
    <message>
        <source>This computer: {ram} of memory and a GPU with {vram}.</source>
        <translation>这台电脑：{ram} 内存，GPU 显存 {vram}。</translation>
    </message>
    <message>
        <source>This computer: {ram} of memory, no GPU used.</source>
        <translation>这台电脑：{ram} 内存，不使用 GPU。</translation>
    </message>
    <message>
        <source>None of the recommended models fits this computer&apos;s memory. Browse the Hub for a smaller one, or import a GGUF file.</source>
        <translation>推荐的模型都超出了这台电脑的内存。请在 Hub 中查找更小的模型，或导入一个 GGUF 文件。</translation>
    </message>
</context>
<context>
    <name>HubBrowser</name>
    <message>
        <source>Search GGUF models on the Hub</source>
        <translation>在 Hub 上搜索 GGUF 模型</translation>
    </message>
    <message>
        <source>Search the Hub</source>
        <translation>搜索 Hub</translation>
    </message>
    <message>
        <source>&amp;Search</source>
        <translation>搜索(&amp;S)</translation>
    </message>
    <message>
        <source>So&amp;rt by:</source>
        <translation>排序方式(&amp;R)：</translation>
    </message>
    <message>
        <source>Sort by</source>
        <translation>排序方式</translation>
    </message>
    <message>
        <source>Most downloads</source>
        <translation>下载最多</translation>
    </message>
    <message>
        <source>Most likes</source>
        <translation>点赞最多</translation>
    </message>
    <message>
        <source>Trending</source>
        <translation>热门</translation>
    </message>
    <message>
        <source>Recently updated</source>
        <translation>最近更新</translation>
    </message>
    <message>
        <source>Search results</source>
        <translation>搜索结果</translation>
    </message>
    <message>
        <source>&amp;Open</source>
        <translation>打开(&amp;O)</translation>
    </message>
    <message>
        <source>Open the selected repository</source>
        <translation>打开所选仓库</translation>
    </message>
    <message>
        <source>Searching…</source>
        <translation>正在搜索…</translation>
    </message>
    <message>
        <source>Loading more…</source>
        <translation>正在加载更多…</translation>
    </message>
    <message>
        <source>The search failed: {error}</source>
        <translation>搜索失败：{error}</translation>
    </message>
    <message>
        <source>No GGUF repositories match “{query}”.</source>
        <translation>没有与“{query}”匹配的 GGUF 仓库。</translation>
    </message>
    <message>
        <source>No GGUF repositories found.</source>
        <translation>未找到 GGUF 仓库。</translation>
    </message>
    <message>
        <source>{count} repositories; scroll for more</source>
        <translation>{count} 个仓库；向下滚动查看更多</translation>
    </message>
    <message>
        <source>{count} repositories</source>
        <translation>{count} 个仓库</translation>
    </message>
</context>
<context>
    <name>InputForm</name>
    <message>
        <source>This app has no inputs.</source>
        <translation>此应用没有输入项。</translation>
    </message>
    <message>
        <source>Required</source>
        <translation>必填</translation>
    </message>
</context>
<context>
    <name>InputsEditor</name>
    <message>
        <source>Inputs</source>
        <translation>输入项</translation>
    </message>
    <message>
        <source>&amp;Add input</source>
        <translation>添加输入项(&amp;A)</translation>
    </message>
    <message>
        <source>Remove input</source>
        <translation>移除输入项</translation>
    </message>
    <message>
        <source>used in the template: {{ name }}</source>
        <translation>在模板中使用：{{ name }}</translation>
    </message>
    <message>
        <source>The app cannot run without it</source>
        <translation>缺少此项时应用无法运行</translation>
    </message>
    <message>
        <source>comma separated: short, medium, long</source>
        <translation>以逗号分隔：short, medium, long</translation>
    </message>
    <message>
        <source>Whole numbers only</source>
        <translation>仅限整数</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Kind:</source>
        <translation>类型：</translation>
    </message>
    <message>
        <source>Label (English):</source>
        <translation>标签（英文）：</translation>
    </message>
    <message>
        <source>Label (Chinese):</source>
        <translation>标签（中文）：</translation>
    </message>
    <message>
        <source>Required:</source>
        <translation>必填：</translation>
    </message>
    <message>
        <source>Default:</source>
        <translation>默认值：</translation>
    </message>
    <message>
        <source>Choices:</source>
        <translation>选项：</translation>
    </message>
    <message>
        <source>Minimum:</source>
        <translation>最小值：</translation>
    </message>
    <message>
        <source>Maximum:</source>
        <translation>最大值：</translation>
    </message>
    <message>
        <source>Integer:</source>
        <translation>整数：</translation>
    </message>
    <message>
        <source>Longest text:</source>
        <translation>最长文本：</translation>
    </message>
    <message>
        <source>(no name)</source>
        <translation>（无名称）</translation>
    </message>
    <message>
        <source>Input {n}</source>
        <translation>输入项 {n}</translation>
    </message>
    <message>
        <source>Not a number.</source>
        <translation>不是数字。</translation>
    </message>
    <message>
        <source>Write yes or no.</source>
        <translation>请填写 yes 或 no。</translation>
    </message>
    <message>
        <source>A whole number above 0.</source>
        <translation>大于 0 的整数。</translation>
    </message>
</context>
<context>
    <name>LabPage</name>
    <message>
        <source>Lab</source>
        <translation>实验室</translation>
    </message>
    <message>
        <source>&amp;Quantize</source>
        <translation>量化(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Measure</source>
        <translation>测量(&amp;M)</translation>
    </message>
    <message>
        <source>&amp;Score</source>
        <translation>评分(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Compare</source>
        <translation>比较(&amp;C)</translation>
    </message>
    <message>
        <source>Lab sections</source>
        <translation>实验室分区</translation>
    </message>
    <message>
        <source>The library could not be read: {error}</source>
        <translation>无法读取模型库：{error}</translation>
    </message>
    <message>
        <source>The apps could not be read: {error}</source>
        <translation>无法读取应用：{error}</translation>
    </message>
    <message>
        <source>Choose a model file</source>
        <translation>选择模型文件</translation>
    </message>
    <message>
        <source>GGUF models (*.gguf)</source>
        <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>所有文件 (*)</translation>
    </message>
    <message>
        <source>Choose a text</source>
        <translation>选择文本</translation>
    </message>
    <message>
        <source>Text files (*.txt)</source>
        <translation>文本文件 (*.txt)</translation>
    </message>
    <message>
        <source>Choose a dataset</source>
        <translation>选择数据集</translation>
    </message>
    <message>
        <source>JSON Lines (*.jsonl)</source>
        <translation>JSON Lines (*.jsonl)</translation>
    </message>
    <message>
        <source>Write the quantized model to</source>
        <translation>量化后的模型写入到</translation>
    </message>
    <message>
        <source>Choose an F32, F16 or BF16 GGUF file.</source>
        <translation>请选择 F32、F16 或 BF16 的 GGUF 文件。</translation>
    </message>
    <message>
        <source>Reading the file…</source>
        <translation>正在读取文件…</translation>
    </message>
    <message>
        <source>{type}: about {size}.</source>
        <translation>{type}：约 {size}。</translation>
    </message>
    <message>
        <source>This model is already quantized ({type}): quantizing it again loses quality twice. You will be asked to confirm.</source>
        <translation>此模型已经量化（{type}）：再次量化会二次损失质量。开始前会请你确认。</translation>
    </message>
    <message>
        <source>unknown type</source>
        <translation>未知类型</translation>
    </message>
    <message>
        <source>{type} source, {size}.</source>
        <translation>{type} 源文件，{size}。</translation>
    </message>
    <message>
        <source>A run is in progress: wait for it or cancel it.</source>
        <translation>有任务正在运行：请等待完成或取消它。</translation>
    </message>
    <message>
        <source>Cancelled; nothing unfinished was kept.</source>
        <translation>已取消；未完成的内容均未保留。</translation>
    </message>
    <message>
        <source>Choose the model to quantize.</source>
        <translation>请选择要量化的模型。</translation>
    </message>
    <message>
        <source>Quantizing {name} to {type}</source>
        <translation>正在将 {name} 量化为 {type}</translation>
    </message>
    <message>
        <source>Requantize a quantized model</source>
        <translation>重新量化已量化的模型</translation>
    </message>
    <message>
        <source>This model is already quantized ({type}).</source>
        <translation>此模型已经量化（{type}）。</translation>
    </message>
    <message>
        <source>Quantizing it again is lossy: the result is worse than one made from the F16 or F32 file. Use the original file if you have it.</source>
        <translation>再次量化是有损的：结果比从 F16 或 F32 文件量化得到的更差。如有原始文件，请使用原始文件。</translation>
    </message>
    <message>
        <source>Requantize (&amp;lossy)</source>
        <translation>重新量化（有损）(&amp;L)</translation>
    </message>
    <message>
        <source>Wrote {name} ({type}, {size}) in {seconds} s from {source}. It loaded and replied “{reply}”. It is in your library; measure it to compare.</source>
        <translation>已用 {seconds} 秒从 {source} 生成 {name}（{type}，{size}）。它已成功加载并回复“{reply}”。它已在你的模型库中；测量后即可比较。</translation>
    </message>
    <message>
        <source>Choose the model to measure.</source>
        <translation>请选择要测量的模型。</translation>
    </message>
    <message>
        <source>Perplexity of {name} on {text}</source>
        <translation>{name} 在 {text} 上的困惑度</translation>
    </message>
    <message>
        <source>Perplexity {ppl} ± {err} (standard error) over {chunks} chunks of {ctx} tokens, {tokens} tokens scored, in {seconds} s. Lower is better.</source>
        <translation>困惑度 {ppl} ± {err}（标准误差），共 {chunks} 个 {ctx} 词元的分块，评估 {tokens} 个词元，用时 {seconds} 秒。越低越好。</translation>
    </message>
    <message>
        <source>Give a prompt or a generation size above zero.</source>
        <translation>提示长度或生成长度至少有一个要大于零。</translation>
    </message>
    <message>
        <source>Speed of {name}</source>
        <translation>{name} 的速度</translation>
    </message>
    <message>
        <source>Prompt processing (pp{pp}): {pp_tps} tokens/s; generation (tg{tg}): {tg_tps} tokens/s. Median ± spread of {reps} runs, {threads} threads, batch {batch}, {gpu} GPU layers.</source>
        <translation>提示处理（pp{pp}）：{pp_tps} 词元/秒；生成（tg{tg}）：{tg_tps} 词元/秒。{reps} 次运行的中位数 ± 离散度，{threads} 个线程，批大小 {batch}，{gpu} 个 GPU 层。</translation>
    </message>
    <message>
        <source>Choose a model, an app and a dataset.</source>
        <translation>请选择模型、应用和数据集。</translation>
    </message>
    <message>
        <source>Scoring {app} with {model} ({metric})</source>
        <translation>正在用 {model} 为 {app} 评分（{metric}）</translation>
    </message>
    <message>
        <source>{metric} {score} over {n} pairs of {dataset} (higher is better).</source>
        <translation>{metric} {score}，基于 {dataset} 的 {n} 对数据（越高越好）。</translation>
    </message>
    <message>
        <source>The results could not be read: {error}</source>
        <translation>无法读取结果：{error}</translation>
    </message>
    <message>
        <source>The comparison was not saved: {error}</source>
        <translation>比较未保存：{error}</translation>
    </message>
    <message>
        <source>Comparison “{name}” saved.</source>
        <translation>比较“{name}”已保存。</translation>
    </message>
    <message>
        <source>There is nothing to compare yet.</source>
        <translation>还没有可比较的内容。</translation>
    </message>
    <message>
        <source>Save the comparison</source>
        <translation>保存比较</translation>
    </message>
    <message>
        <source>Name for these {n} models (an existing name is replaced):</source>
        <translation>为这 {n} 个模型命名（同名的比较会被替换）：</translation>
    </message>
    <message>
        <source>Add models to the comparison</source>
        <translation>向比较中添加模型</translation>
    </message>
    <message>
        <source>Models to add</source>
        <translation>要添加的模型</translation>
    </message>
    <message>
        <source>Models not measured yet are listed too: measure them to fill their row.</source>
        <translation>尚未测量的模型也会列出：测量后即可填满它们的行。</translation>
    </message>
    <message>
        <source>Every model is in this comparison already.</source>
        <translation>所有模型都已在此比较中。</translation>
    </message>
    <message>
        <source>&amp;Add</source>
        <translation>添加(&amp;A)</translation>
    </message>
    <message>
        <source>Name for the new comparison:</source>
        <translation>新比较的名称：</translation>
    </message>
    <message>
        <source>In the models folder (quantized), named after the type</source>
        <translation>在模型文件夹（quantized）中，按类型命名</translation>
    </message>
</context>
<context>
    <name>LabWording</name>
    <message>
        <source>The model file cannot be used</source>
        <translation>无法使用该模型文件</translation>
    </message>
    <message>
        <source>That quantization type is not offered</source>
        <translation>不提供该量化类型</translation>
    </message>
    <message>
        <source>The text cannot be used</source>
        <translation>无法使用该文本</translation>
    </message>
    <message>
        <source>A value is out of range</source>
        <translation>有数值超出范围</translation>
    </message>
    <message>
        <source>The dataset cannot be used</source>
        <translation>无法使用该数据集</translation>
    </message>
    <message>
        <source>The model is already quantized: confirm that requantizing loses quality</source>
        <translation>模型已经量化：请确认接受重新量化带来的质量损失</translation>
    </message>
    <message>
        <source>The output file exists already; the lab never overwrites a model</source>
        <translation>输出文件已存在；实验室从不覆盖模型</translation>
    </message>
    <message>
        <source>There is not enough free disk space</source>
        <translation>磁盘剩余空间不足</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>The lab&apos;s worker process stopped unexpectedly</source>
        <translation>实验室的工作进程意外停止</translation>
    </message>
    <message>
        <source>llama.cpp could not load the model</source>
        <translation>llama.cpp 无法加载该模型</translation>
    </message>
    <message>
        <source>llama.cpp could not quantize the model</source>
        <translation>llama.cpp 无法量化该模型</translation>
    </message>
    <message>
        <source>The disk could not be read or written</source>
        <translation>无法读写磁盘</translation>
    </message>
    <message>
        <source>The app failed while it was scored</source>
        <translation>应用在评分过程中失败</translation>
    </message>
    <message>
        <source>Checking the source and the free disk space…</source>
        <translation>正在检查源文件和磁盘剩余空间…</translation>
    </message>
    <message>
        <source>Quantizing…</source>
        <translation>正在量化…</translation>
    </message>
    <message>
        <source>Loading the result once to check that it works…</source>
        <translation>正在加载结果一次，以确认它能正常工作…</translation>
    </message>
    <message>
        <source>Loading the model…</source>
        <translation>正在加载模型…</translation>
    </message>
    <message>
        <source>Tokenizing the text…</source>
        <translation>正在对文本分词…</translation>
    </message>
    <message>
        <source>Scoring the text…</source>
        <translation>正在评估文本…</translation>
    </message>
    <message>
        <source>Warming up…</source>
        <translation>正在预热…</translation>
    </message>
    <message>
        <source>Measuring prompt processing…</source>
        <translation>正在测量提示处理…</translation>
    </message>
    <message>
        <source>Measuring generation…</source>
        <translation>正在测量生成…</translation>
    </message>
    <message>
        <source>Running the app over the dataset…</source>
        <translation>正在用数据集运行应用…</translation>
    </message>
    <message>
        <source>8-bit, nearly lossless</source>
        <translation>8 位，几乎无损</translation>
    </message>
    <message>
        <source>6-bit K-quant, very small loss</source>
        <translation>6 位 K 量化，损失很小</translation>
    </message>
    <message>
        <source>5-bit K-quant, small loss</source>
        <translation>5 位 K 量化，损失较小</translation>
    </message>
    <message>
        <source>4-bit K-quant, the usual balance</source>
        <translation>4 位 K 量化，常用的平衡之选</translation>
    </message>
    <message>
        <source>4-bit legacy, fast on some back ends</source>
        <translation>4 位旧式量化，在某些后端上较快</translation>
    </message>
    <message>
        <source>4-bit non-linear</source>
        <translation>4 位非线性量化</translation>
    </message>
    <message>
        <source>4.25-bit i-quant</source>
        <translation>4.25 位 i 量化</translation>
    </message>
    <message>
        <source>3-bit i-quant, noticeable loss without an importance matrix</source>
        <translation>3 位 i 量化，没有重要性矩阵时损失明显</translation>
    </message>
    <message>
        <source>Finishing…</source>
        <translation>正在收尾…</translation>
    </message>
</context>
<context>
    <name>LibraryTableModel</name>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>Quantization</source>
        <translation>量化</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>大小</translation>
    </message>
    <message>
        <source>Context</source>
        <translation>上下文</translation>
    </message>
    <message>
        <source>Template</source>
        <translation>模板</translation>
    </message>
    <message>
        <source>Projector</source>
        <translation>投影器</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Last used</source>
        <translation>上次使用</translation>
    </message>
    <message>
        <source>The context length the model was trained for</source>
        <translation>模型训练时使用的上下文长度</translation>
    </message>
    <message>
        <source>Whether the file has its own chat template</source>
        <translation>文件是否自带对话模板</translation>
    </message>
    <message>
        <source>A vision projector (mmproj) is not a model to chat with: it gives a model of the same family the ability to see images</source>
        <translation>视觉投影器（mmproj）不是用来对话的模型：它让同系列的模型能够看懂图像</translation>
    </message>
    <message>
        <source>The Hub repository it was downloaded from</source>
        <translation>下载来源的 Hub 仓库</translation>
    </message>
    <message>
        <source>{name} cannot be used: {error}</source>
        <translation>{name} 无法使用：{error}</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>Cannot be used: {error}</source>
        <translation>无法使用：{error}</translation>
    </message>
    <message>
        <source>Yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>No</source>
        <translation>否</translation>
    </message>
    <message>
        <source>Comes with LLMOS Desktop</source>
        <translation>LLMOS Desktop 自带</translation>
    </message>
    <message>
        <source>Used in place</source>
        <translation>在原位置使用</translation>
    </message>
    <message>
        <source>Models folder</source>
        <translation>模型文件夹</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>从未使用</translation>
    </message>
    <message>
        <source>{qtype} of {file}, made here</source>
        <translation>{file} 的 {qtype} 版本，在本机生成</translation>
    </message>
</context>
<context>
    <name>LibraryView</name>
    <message>
        <source>Models on this computer</source>
        <translation>这台电脑上的模型</translation>
    </message>
    <message>
        <source>L&amp;oad</source>
        <translation>加载(&amp;O)</translation>
    </message>
    <message>
        <source>Load the selected model for chatting (Enter)</source>
        <translation>加载所选模型用于对话（Enter）</translation>
    </message>
    <message>
        <source>&amp;Defaults…</source>
        <translation>默认设置(&amp;D)…</translation>
    </message>
    <message>
        <source>Context size, GPU layers, threads and chat template for this model</source>
        <translation>此模型的上下文大小、GPU 层数、线程数和对话模板</translation>
    </message>
    <message>
        <source>Dele&amp;te…</source>
        <translation>删除(&amp;T)…</translation>
    </message>
    <message>
        <source>Show in file &amp;manager</source>
        <translation>在文件管理器中显示(&amp;M)</translation>
    </message>
    <message>
        <source>&amp;Import GGUF…</source>
        <translation>导入 GGUF(&amp;I)…</translation>
    </message>
    <message>
        <source>Add a .gguf file from anywhere: copy it in, or use it where it is</source>
        <translation>从任意位置添加 .gguf 文件：复制到模型文件夹，或在原位置使用</translation>
    </message>
    <message>
        <source>&amp;Refresh</source>
        <translation>刷新(&amp;R)</translation>
    </message>
    <message>
        <source>Scan the models folder again</source>
        <translation>重新扫描模型文件夹</translation>
    </message>
    <message>
        <source>Delete…</source>
        <translation>删除…</translation>
    </message>
    <message>
        <source>{count} models, {size}</source>
        <translation>{count} 个模型，共 {size}</translation>
    </message>
    <message>
        <source>1 model, {size}</source>
        <translation>1 个模型，共 {size}</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>LLMOS Desktop</source>
        <translation>LLMOS Desktop</translation>
    </message>
    <message>
        <source>Sections</source>
        <translation>页面导航</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Store</source>
        <translation>商店</translation>
    </message>
    <message>
        <source>&amp;Go</source>
        <translation>转到(&amp;G)</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>聊天</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;About LLMOS Desktop…</source>
        <translation>关于 LLMOS Desktop(&amp;A)…</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>engine not started</source>
        <translation>引擎未启动</translation>
    </message>
    <message>
        <source>unknown ({error})</source>
        <translation>未知（{error}）</translation>
    </message>
    <message>
        <source>Save Chat as &amp;App…</source>
        <translation>将对话另存为应用(&amp;A)…</translation>
    </message>
    <message>
        <source>Developer</source>
        <translation>开发者</translation>
    </message>
    <message>
        <source>Lab</source>
        <translation>实验室</translation>
    </message>
</context>
<context>
    <name>MeasureForm</name>
    <message>
        <source>Model to measure</source>
        <translation>要测量的模型</translation>
    </message>
    <message>
        <source>&amp;Model:</source>
        <translation>模型(&amp;M)：</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>How surprised the model is by a text it has not seen: lower is better. Compare figures measured on the same text with the same context only.</source>
        <translation>模型对一段没见过的文本有多“意外”：越低越好。只比较在相同文本和相同上下文下测得的数值。</translation>
    </message>
    <message>
        <source>English sample (bundled)</source>
        <translation>英文样本（内置）</translation>
    </message>
    <message>
        <source>Chinese sample (bundled)</source>
        <translation>中文样本（内置）</translation>
    </message>
    <message>
        <source>Your own text file…</source>
        <translation>你自己的文本文件…</translation>
    </message>
    <message>
        <source> tokens</source>
        <translation> 个词元</translation>
    </message>
    <message>
        <source>the whole text</source>
        <translation>整段文本</translation>
    </message>
    <message>
        <source>Measure &amp;perplexity</source>
        <translation>测量困惑度(&amp;P)</translation>
    </message>
    <message>
        <source>&amp;Text:</source>
        <translation>文本(&amp;T)：</translation>
    </message>
    <message>
        <source>&amp;Context:</source>
        <translation>上下文(&amp;C)：</translation>
    </message>
    <message>
        <source>C&amp;hunks at most:</source>
        <translation>最多分块数(&amp;H)：</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>速度</translation>
    </message>
    <message>
        <source>Prompt processing and generation in tokens per second, as llama-bench measures them (pp512, tg128), repeated: the median and the spread.</source>
        <translation>按 llama-bench 的方式（pp512、tg128）测量提示处理和生成的每秒词元数，多次重复：给出中位数和离散度。</translation>
    </message>
    <message>
        <source>automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>all</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>Measure &amp;speed</source>
        <translation>测量速度(&amp;S)</translation>
    </message>
    <message>
        <source>Prompt t&amp;okens (pp):</source>
        <translation>提示词元数 (pp)(&amp;O)：</translation>
    </message>
    <message>
        <source>&amp;Generated tokens (tg):</source>
        <translation>生成词元数 (tg)(&amp;G)：</translation>
    </message>
    <message>
        <source>&amp;Repetitions:</source>
        <translation>重复次数(&amp;R)：</translation>
    </message>
    <message>
        <source>Thre&amp;ads:</source>
        <translation>线程数(&amp;A)：</translation>
    </message>
    <message>
        <source>&amp;Batch:</source>
        <translation>批大小(&amp;B)：</translation>
    </message>
    <message>
        <source>GP&amp;U layers:</source>
        <translation>GPU 层数(&amp;U)：</translation>
    </message>
    <message>
        <source>Your text: {name}</source>
        <translation>你的文本：{name}</translation>
    </message>
</context>
<context>
    <name>MessageBanner</name>
    <message>
        <source>Dismiss</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>MessageCard</name>
    <message>
        <source>Message from {author}</source>
        <translation>来自{author}的消息</translation>
    </message>
    <message>
        <source>{seconds:.2f} s to first token</source>
        <translation>首词元用时 {seconds:.2f} 秒</translation>
    </message>
    <message>
        <source>{rate:.1f} tokens/s</source>
        <translation>{rate:.1f} 词元/秒</translation>
    </message>
    <message>
        <source>stopped at max tokens</source>
        <translation>已达最大词元数，已停止</translation>
    </message>
    <message>
        <source>stopped: the context is full</source>
        <translation>已停止：上下文已满</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>incomplete</source>
        <translation>未完成</translation>
    </message>
    <message>
        <source>only the first {shown} characters are shown; Copy copies all</source>
        <translation>仅显示前 {shown} 个字符；“复制”会复制全部内容</translation>
    </message>
    <message>
        <source>You</source>
        <translation>你</translation>
    </message>
    <message>
        <source>Assistant</source>
        <translation>助手</translation>
    </message>
    <message>
        <source>System prompt</source>
        <translation>系统提示词</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>提示</translation>
    </message>
    <message>
        <source>{version}/{versions}</source>
        <translation>{version}/{versions}</translation>
    </message>
    <message>
        <source>Version {version} of {versions}</source>
        <translation>第 {version} 版，共 {versions} 版</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Copy the message</source>
        <translation>复制这条消息</translation>
    </message>
    <message>
        <source>Edit</source>
        <translation>编辑</translation>
    </message>
    <message>
        <source>Edit the message</source>
        <translation>编辑这条消息</translation>
    </message>
    <message>
        <source>Resend</source>
        <translation>重新发送</translation>
    </message>
    <message>
        <source>Send the message again</source>
        <translation>再次发送这条消息</translation>
    </message>
    <message>
        <source>Regenerate</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source>Write the reply again</source>
        <translation>重新生成这条回复</translation>
    </message>
    <message>
        <source>Continue</source>
        <translation>继续</translation>
    </message>
    <message>
        <source>Continue the reply</source>
        <translation>继续生成这条回复</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Delete the reply</source>
        <translation>删除这条回复</translation>
    </message>
    <message>
        <source>Delete the message</source>
        <translation>删除这条消息</translation>
    </message>
    <message>
        <source>Previous version</source>
        <translation>上一版本</translation>
    </message>
    <message>
        <source>Next version</source>
        <translation>下一版本</translation>
    </message>
    <message numerus="yes">
        <source>%n tokens</source>
        <translation>
            <numerusform>%n 个词元</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ModelChooser</name>
    <message>
        <source>Choose a GGUF file that is not in the library</source>
        <translation>选择不在模型库中的 GGUF 文件</translation>
    </message>
    <message>
        <source>No model in the library yet</source>
        <translation>模型库中还没有模型</translation>
    </message>
    <message>
        <source>Other fi&amp;le…</source>
        <translation>其他文件(&amp;L)…</translation>
    </message>
</context>
<context>
    <name>ModelDefaultsDialog</name>
    <message>
        <source>Defaults for {name}</source>
        <translation>{name} 的默认设置</translation>
    </message>
    <message>
        <source>How {name} is loaded from the library. Leave a value at its default to use the Settings page&apos;s.</source>
        <translation>从模型库加载 {name} 时使用的设置。保留默认值的项将使用“设置”页面中的值。</translation>
    </message>
    <message>
        <source> tokens</source>
        <translation> 词元</translation>
    </message>
    <message>
        <source>App default</source>
        <translation>应用默认值</translation>
    </message>
    <message>
        <source>&amp;Context size:</source>
        <translation>上下文大小(&amp;C)：</translation>
    </message>
    <message>
        <source>Trained for {n} tokens.</source>
        <translation>训练上下文长度为 {n} 词元。</translation>
    </message>
    <message>
        <source>Automatic (what fits this computer)</source>
        <translation>自动（按这台电脑的配置）</translation>
    </message>
    <message>
        <source>All layers</source>
        <translation>所有层</translation>
    </message>
    <message>
        <source>None (CPU only)</source>
        <translation>不使用（仅 CPU）</translation>
    </message>
    <message>
        <source>Number of layers</source>
        <translation>指定层数</translation>
    </message>
    <message>
        <source>&amp;GPU layers:</source>
        <translation>GPU 层数(&amp;G)：</translation>
    </message>
    <message>
        <source>&amp;Layers on the GPU:</source>
        <translation>GPU 上的层数(&amp;L)：</translation>
    </message>
    <message>
        <source>CPU &amp;threads:</source>
        <translation>CPU 线程数(&amp;T)：</translation>
    </message>
    <message>
        <source>Empty: the model&apos;s own chat template (or one chosen by its architecture)</source>
        <translation>留空：使用模型自带的对话模板（或根据其架构选择的模板）</translation>
    </message>
    <message>
        <source>Chat te&amp;mplate override:</source>
        <translation>自定义对话模板(&amp;M)：</translation>
    </message>
    <message>
        <source>The chat template is too long (at most {n} characters).</source>
        <translation>对话模板过长（最多 {n} 个字符）。</translation>
    </message>
</context>
<context>
    <name>ModelsPage</name>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Cl&amp;ear finished</source>
        <translation>清除已完成(&amp;E)</translation>
    </message>
    <message>
        <source>Clear finished downloads</source>
        <translation>清除已完成的下载</translation>
    </message>
    <message>
        <source>&amp;Library</source>
        <translation>模型库(&amp;L)</translation>
    </message>
    <message>
        <source>Dis&amp;cover</source>
        <translation>发现(&amp;C)</translation>
    </message>
    <message>
        <source>Do&amp;wnloads</source>
        <translation>下载(&amp;W)</translation>
    </message>
    <message>
        <source>Models sections</source>
        <translation>模型页面分区</translation>
    </message>
    <message>
        <source>The models folder could not be read: {error}</source>
        <translation>无法读取模型文件夹：{error}</translation>
    </message>
    <message>
        <source>The library&apos;s list of models was damaged and was kept, unchanged, as {path}; a new list was started.</source>
        <translation>模型库的模型列表已损坏，它已原样保留为 {path}；并已新建一个模型列表。</translation>
    </message>
    <message>
        <source>The recommendations could not be read: {error}</source>
        <translation>无法读取推荐模型：{error}</translation>
    </message>
    <message>
        <source>{name} cannot be loaded: {error}</source>
        <translation>无法加载 {name}：{error}</translation>
    </message>
    <message>
        <source>The defaults for {name} were not saved: {error}</source>
        <translation>未能保存 {name} 的默认设置：{error}</translation>
    </message>
    <message>
        <source>{name} comes with LLMOS Desktop and cannot be deleted.</source>
        <translation>{name} 是 LLMOS Desktop 自带的模型，无法删除。</translation>
    </message>
    <message>
        <source>Delete model</source>
        <translation>删除模型</translation>
    </message>
    <message>
        <source>Remove {name} from the library?</source>
        <translation>要从模型库中移除 {name} 吗？</translation>
    </message>
    <message>
        <source>The file stays where it is: {path}</source>
        <translation>文件会保留在原位置：{path}</translation>
    </message>
    <message>
        <source>Delete {name}?</source>
        <translation>要删除 {name} 吗？</translation>
    </message>
    <message>
        <source>Its file is deleted from the models folder ({size}).</source>
        <translation>它的文件将从模型文件夹中删除（{size}）。</translation>
    </message>
    <message>
        <source>Its {n} files are deleted from the models folder ({size}).</source>
        <translation>它的 {n} 个文件将从模型文件夹中删除（{size}）。</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>{name} was not deleted: {error}</source>
        <translation>未能删除 {name}：{error}</translation>
    </message>
    <message>
        <source>No file manager could open {folder}.</source>
        <translation>没有可以打开 {folder} 的文件管理器。</translation>
    </message>
    <message>
        <source>Import a GGUF model</source>
        <translation>导入 GGUF 模型</translation>
    </message>
    <message>
        <source>GGUF models (*.gguf)</source>
        <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>所有文件 (*)</translation>
    </message>
    <message>
        <source>Copy {name} into the models folder, or use it where it is?</source>
        <translation>将 {name} 复制到模型文件夹，还是在原位置使用？</translation>
    </message>
    <message>
        <source>A copy stays in the library if the original is moved; in place takes no extra disk space.</source>
        <translation>复制后，即使原文件被移动，模型库中的副本仍可使用；在原位置使用则不占用额外的磁盘空间。</translation>
    </message>
    <message>
        <source>&amp;Copy in</source>
        <translation>复制(&amp;C)</translation>
    </message>
    <message>
        <source>Use in &amp;place</source>
        <translation>在原位置使用(&amp;P)</translation>
    </message>
    <message>
        <source>Importing {name}…</source>
        <translation>正在导入 {name}…</translation>
    </message>
    <message>
        <source>{name} was not imported: {error}</source>
        <translation>未能导入 {name}：{error}</translation>
    </message>
    <message>
        <source>{name} is in the library.</source>
        <translation>{name} 已添加到模型库。</translation>
    </message>
    <message>
        <source>Importing {name}… {percent} %</source>
        <translation>正在导入 {name}… {percent}%</translation>
    </message>
    <message>
        <source>{repo} could not be opened: {error}</source>
        <translation>无法打开 {repo}：{error}</translation>
    </message>
    <message>
        <source>The token was not saved: {error}</source>
        <translation>令牌未保存：{error}</translation>
    </message>
    <message>
        <source>The token is kept in the system keyring.</source>
        <translation>令牌已保存在系统密钥环中。</translation>
    </message>
    <message>
        <source>The token is kept in a file only you can read.</source>
        <translation>令牌已保存在只有你能读取的文件中。</translation>
    </message>
    <message>
        <source>The downloads could not be read: {error}</source>
        <translation>无法读取下载列表：{error}</translation>
    </message>
    <message>
        <source>{file} cannot be downloaded: {error}</source>
        <translation>无法下载 {file}：{error}</translation>
    </message>
    <message>
        <source>{file} is already in the library.</source>
        <translation>{file} 已在模型库中。</translation>
    </message>
    <message>
        <source>Do&amp;wnloads ({n})</source>
        <translation>下载（{n}）(&amp;W)</translation>
    </message>
    <message>
        <source>The download could not be changed: {error}</source>
        <translation>无法更改下载状态：{error}</translation>
    </message>
</context>
<context>
    <name>ModelsWording</name>
    <message>
        <source>unknown size</source>
        <translation>大小未知</translation>
    </message>
    <message>
        <source>{n} B</source>
        <translation>{n} B</translation>
    </message>
    <message>
        <source>{n} KB</source>
        <translation>{n} KB</translation>
    </message>
    <message>
        <source>{n} MB</source>
        <translation>{n} MB</translation>
    </message>
    <message>
        <source>{n} GB</source>
        <translation>{n} GB</translation>
    </message>
    <message>
        <source>{n} TB</source>
        <translation>{n} TB</translation>
    </message>
    <message>
        <source>{n}K</source>
        <translation>{n}K</translation>
    </message>
    <message>
        <source>{n}M</source>
        <translation>{n}M</translation>
    </message>
    <message>
        <source>{n}B</source>
        <translation>{n}B</translation>
    </message>
    <message>
        <source>{n} tokens</source>
        <translation>{n} 词元</translation>
    </message>
    <message>
        <source>Gated (the authors approve each request)</source>
        <translation>受限（作者逐一审批访问申请）</translation>
    </message>
    <message>
        <source>Gated (accept the licence on the Hub)</source>
        <translation>受限（需在 Hub 上接受许可协议）</translation>
    </message>
    <message>
        <source>{n} s</source>
        <translation>{n} 秒</translation>
    </message>
    <message>
        <source>{n} min</source>
        <translation>{n} 分钟</translation>
    </message>
    <message>
        <source>{h} h {m} min</source>
        <translation>{h} 小时 {m} 分钟</translation>
    </message>
    <message>
        <source>{size}/s</source>
        <translation>{size}/s</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>正在检查…</translation>
    </message>
    <message>
        <source>Too large for this computer</source>
        <translation>对这台电脑来说太大</translation>
    </message>
    <message>
        <source>Fits fully on the GPU</source>
        <translation>可完全放入 GPU</translation>
    </message>
    <message>
        <source>Partly on the GPU</source>
        <translation>部分在 GPU 上运行</translation>
    </message>
    <message>
        <source>Runs on the CPU</source>
        <translation>在 CPU 上运行</translation>
    </message>
    <message>
        <source>Partly on the GPU ({n} layers)</source>
        <translation>部分在 GPU 上运行（{n} 层）</translation>
    </message>
    <message>
        <source>{how}, up to {context}</source>
        <translation>{how}，上下文最多 {context}</translation>
    </message>
    <message>
        <source>Reading the model&apos;s header from the Hub…</source>
        <translation>正在从 Hub 读取模型的文件头…</translation>
    </message>
    <message>
        <source>Needs about {size} with this context.</source>
        <translation>按此上下文大小，约需 {size} 内存。</translation>
    </message>
    <message>
        <source>Estimated from the file size; the model&apos;s header is not read yet.</source>
        <translation>根据文件大小估算；尚未读取模型的文件头。</translation>
    </message>
    <message>
        <source>From the model&apos;s header and this computer&apos;s memory.</source>
        <translation>根据模型的文件头和这台电脑的内存计算。</translation>
    </message>
    <message>
        <source>{general} ({detail})</source>
        <translation>{general}（{detail}）</translation>
    </message>
    <message>
        <source>Unexpected error: {error}</source>
        <translation>意外错误：{error}</translation>
    </message>
    <message>
        <source>This needs a Hugging Face token (or the token given was refused).</source>
        <translation>需要 Hugging Face 令牌（或提供的令牌被拒绝）。</translation>
    </message>
    <message>
        <source>This repository is gated: accept its terms on the Hub with your account, then try again.</source>
        <translation>此仓库受限：请先用你的账号在 Hub 上接受其条款，然后重试。</translation>
    </message>
    <message>
        <source>Not found on the Hub.</source>
        <translation>在 Hub 上找不到。</translation>
    </message>
    <message>
        <source>The Hub asked to slow down (too many requests). Try again in a minute.</source>
        <translation>Hub 要求降低请求频率（请求过多）。请一分钟后重试。</translation>
    </message>
    <message>
        <source>The Hub could not be reached. Check the connection, the proxy or the Hub address in Settings.</source>
        <translation>无法连接到 Hub。请检查网络连接、代理，或“设置”中的 Hub 地址。</translation>
    </message>
    <message>
        <source>The Hub answered with an error.</source>
        <translation>Hub 返回了错误。</translation>
    </message>
    <message>
        <source>The file name would land outside the models folder, so it was refused.</source>
        <translation>该文件名会指向模型文件夹之外的位置，因此已被拒绝。</translation>
    </message>
    <message>
        <source>There is not enough free disk space.</source>
        <translation>磁盘可用空间不足。</translation>
    </message>
    <message>
        <source>The downloaded file does not match the Hub&apos;s checksum, so it was not used.</source>
        <translation>下载的文件与 Hub 提供的校验和不符，因此未被使用。</translation>
    </message>
    <message>
        <source>This input was not accepted.</source>
        <translation>此输入未被接受。</translation>
    </message>
    <message>
        <source>The file could not be written or read.</source>
        <translation>无法写入或读取文件。</translation>
    </message>
    <message>
        <source>Something went wrong.</source>
        <translation>出错了。</translation>
    </message>
    <message>
        <source>{received} of {total}</source>
        <translation>{received} / {total}</translation>
    </message>
    <message>
        <source>{time} left</source>
        <translation>剩余 {time}</translation>
    </message>
    <message>
        <source>Waiting for another download to finish</source>
        <translation>正在等待其他下载完成</translation>
    </message>
    <message>
        <source>Paused at {amount}</source>
        <translation>已暂停（{amount}）</translation>
    </message>
    <message>
        <source>Connection trouble, trying again (attempt {n})</source>
        <translation>连接出现问题，正在重试（第 {n} 次）</translation>
    </message>
    <message>
        <source>Checking the file against the Hub&apos;s checksum…</source>
        <translation>正在用 Hub 提供的校验和检查文件…</translation>
    </message>
    <message>
        <source>Verified and added to the library ({size})</source>
        <translation>已校验并添加到模型库（{size}）</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>Unknown error</source>
        <translation>未知错误</translation>
    </message>
    <message>
        <source>Failed: {reason}</source>
        <translation>失败：{reason}</translation>
    </message>
</context>
<context>
    <name>QuantizeForm</name>
    <message>
        <source>Make a smaller, faster copy of a model from its F32, F16 or BF16 file. The copy is loaded once to check that it works, then it is in your library.</source>
        <translation>从模型的 F32、F16 或 BF16 文件制作一个更小、更快的副本。副本会被加载一次以确认可用，然后加入你的模型库。</translation>
    </message>
    <message>
        <source>Source model</source>
        <translation>源模型</translation>
    </message>
    <message>
        <source>{type} — {description}, about {bits} bits per weight</source>
        <translation>{type} — {description}，每个权重约 {bits} 位</translation>
    </message>
    <message>
        <source>Choose where to write the quantized model</source>
        <translation>选择量化后模型的保存位置</translation>
    </message>
    <message>
        <source>&amp;Quantize</source>
        <translation>量化(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Source:</source>
        <translation>源(&amp;S)：</translation>
    </message>
    <message>
        <source>&amp;Type:</source>
        <translation>类型(&amp;T)：</translation>
    </message>
    <message>
        <source>&amp;Output file:</source>
        <translation>输出文件(&amp;O)：</translation>
    </message>
    <message>
        <source>Output file</source>
        <translation>输出文件</translation>
    </message>
    <message>
        <source>In the models folder (quantized), named after the type</source>
        <translation>在模型文件夹（quantized）中，按类型命名</translation>
    </message>
    <message>
        <source>Choos&amp;e…</source>
        <translation>选择(&amp;E)…</translation>
    </message>
</context>
<context>
    <name>RecommendationCard</name>
    <message>
        <source>licence: {licence}</source>
        <translation>许可证：{licence}</translation>
    </message>
    <message>
        <source>Download</source>
        <translation>下载</translation>
    </message>
    <message>
        <source>Download {title}</source>
        <translation>下载 {title}</translation>
    </message>
</context>
<context>
    <name>RepoPage</name>
    <message>
        <source>← &amp;Back to results</source>
        <translation>← 返回结果(&amp;B)</translation>
    </message>
    <message>
        <source>Back to the search results</source>
        <translation>返回搜索结果</translation>
    </message>
    <message>
        <source>O&amp;pen on the Hub</source>
        <translation>在 Hub 上打开(&amp;P)</translation>
    </message>
    <message>
        <source>Open this repository on the Hub in a browser</source>
        <translation>在浏览器中打开此仓库的 Hub 页面</translation>
    </message>
    <message>
        <source>Enter a &amp;token…</source>
        <translation>输入令牌(&amp;T)…</translation>
    </message>
    <message>
        <source>Enter a Hugging Face token</source>
        <translation>输入 Hugging Face 令牌</translation>
    </message>
    <message>
        <source>GGUF files by quantization</source>
        <translation>按量化分组的 GGUF 文件</translation>
    </message>
    <message>
        <source>Quantization</source>
        <translation>量化</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>大小</translation>
    </message>
    <message>
        <source>On this computer</source>
        <translation>在这台电脑上</translation>
    </message>
    <message>
        <source>&amp;Download</source>
        <translation>下载(&amp;D)</translation>
    </message>
    <message>
        <source>Download the selected file</source>
        <translation>下载所选文件</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Model card</source>
        <translation>模型卡片</translation>
    </message>
    <message>
        <source>Reading the repository…</source>
        <translation>正在读取仓库…</translation>
    </message>
    <message>
        <source>This repository has no GGUF files.</source>
        <translation>此仓库没有 GGUF 文件。</translation>
    </message>
    <message>
        <source>This repository has no model card.</source>
        <translation>此仓库没有模型卡片。</translation>
    </message>
    <message>
        <source>★ Best for this computer: {name}</source>
        <translation>★ 最适合这台电脑：{name}</translation>
    </message>
    <message>
        <source>None of these files fits this computer fully with a useful context.</source>
        <translation>这些文件都无法在保留够用的上下文的同时完全适合这台电脑。</translation>
    </message>
    <message>
        <source>{n} downloads</source>
        <translation>{n} 次下载</translation>
    </message>
    <message>
        <source>{n} likes</source>
        <translation>{n} 个赞</translation>
    </message>
    <message>
        <source>licence: {licence}</source>
        <translation>许可证：{licence}</translation>
    </message>
    <message>
        <source>updated {date}</source>
        <translation>更新于 {date}</translation>
    </message>
    <message>
        <source>gated</source>
        <translation>受限</translation>
    </message>
    <message>
        <source>Vision projector</source>
        <translation>视觉投影器</translation>
    </message>
    <message>
        <source>Other</source>
        <translation>其他</translation>
    </message>
    <message>
        <source>{n} files</source>
        <translation>{n} 个文件</translation>
    </message>
    <message>
        <source>Best for this computer</source>
        <translation>最适合这台电脑</translation>
    </message>
    <message>
        <source>Vision projector: used with its model</source>
        <translation>视觉投影器：需与对应模型一起使用</translation>
    </message>
    <message>
        <source>best for this computer</source>
        <translation>最适合这台电脑</translation>
    </message>
    <message>
        <source>Download {name} ({size})</source>
        <translation>下载 {name}（{size}）</translation>
    </message>
    <message>
        <source>{name} ({n} parts)</source>
        <translation>{name}（{n} 个分片）</translation>
    </message>
</context>
<context>
    <name>RequestLogModel</name>
    <message>
        <source>Time</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>Route</source>
        <translation>路由</translation>
    </message>
    <message>
        <source>Client</source>
        <translation>客户端</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Tokens in</source>
        <translation>输入词元</translation>
    </message>
    <message>
        <source>Tokens out</source>
        <translation>输出词元</translation>
    </message>
    <message>
        <source>First token</source>
        <translation>首个词元</translation>
    </message>
    <message>
        <source>Tokens/s</source>
        <translation>词元/秒</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>耗时</translation>
    </message>
    <message>
        <source>Prompt</source>
        <translation>提示词</translation>
    </message>
    <message>
        <source>{client} (this window)</source>
        <translation>{client}（本窗口）</translation>
    </message>
    <message>
        <source>{seconds} s</source>
        <translation>{seconds} 秒</translation>
    </message>
</context>
<context>
    <name>RequestLogView</name>
    <message>
        <source>Request log</source>
        <translation>请求日志</translation>
    </message>
</context>
<context>
    <name>RunPanel</name>
    <message>
        <source>Progress of the run</source>
        <translation>运行进度</translation>
    </message>
    <message>
        <source>&amp;Cancel</source>
        <translation>取消(&amp;C)</translation>
    </message>
    <message>
        <source>Stop the run; a partial file is removed</source>
        <translation>停止运行；未完成的文件会被删除</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>错误</translation>
    </message>
    <message>
        <source>Result of the run</source>
        <translation>运行结果</translation>
    </message>
</context>
<context>
    <name>RunView</name>
    <message>
        <source>← &amp;Back</source>
        <translation>← 返回(&amp;B)</translation>
    </message>
    <message>
        <source>Back to the app&apos;s page</source>
        <translation>返回应用页面</translation>
    </message>
    <message>
        <source>Examples:</source>
        <translation>示例：</translation>
    </message>
    <message>
        <source>&amp;Run</source>
        <translation>运行(&amp;R)</translation>
    </message>
    <message>
        <source>Run the app with these inputs (Ctrl+Enter)</source>
        <translation>用这些输入运行应用（Ctrl+Enter）</translation>
    </message>
    <message>
        <source>&amp;Stop</source>
        <translation>停止(&amp;S)</translation>
    </message>
    <message>
        <source>Stop writing (Esc); what was written is kept</source>
        <translation>停止生成（Esc）；已生成的内容会保留</translation>
    </message>
    <message>
        <source>R&amp;eset</source>
        <translation>重置(&amp;E)</translation>
    </message>
    <message>
        <source>Every input back to its default</source>
        <translation>将所有输入项恢复为默认值</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>结果</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>&amp;Copy</source>
        <translation>复制(&amp;C)</translation>
    </message>
    <message>
        <source>Copy the result to the clipboard</source>
        <translation>将结果复制到剪贴板</translation>
    </message>
    <message>
        <source>Sa&amp;ve…</source>
        <translation>保存(&amp;V)…</translation>
    </message>
    <message>
        <source>Save the result to a file</source>
        <translation>将结果保存到文件</translation>
    </message>
    <message>
        <source>Example {n}</source>
        <translation>示例 {n}</translation>
    </message>
</context>
<context>
    <name>ScoreForm</name>
    <message>
        <source>Run a store app (translation, summaries) over pairs of input and reference, and score its answers: BLEU and chrF (sacrebleu), ROUGE (rouge-score).</source>
        <translation>用商店应用（翻译、摘要）处理一组“输入—参考答案”对，并为它的回答评分：BLEU 和 chrF（sacrebleu）、ROUGE（rouge-score）。</translation>
    </message>
    <message>
        <source>Model that runs the app</source>
        <translation>运行应用的模型</translation>
    </message>
    <message>
        <source>&amp;Score</source>
        <translation>评分(&amp;S)</translation>
    </message>
    <message>
        <source>&amp;Model:</source>
        <translation>模型(&amp;M)：</translation>
    </message>
    <message>
        <source>&amp;App:</source>
        <translation>应用(&amp;A)：</translation>
    </message>
    <message>
        <source>&amp;Dataset:</source>
        <translation>数据集(&amp;D)：</translation>
    </message>
    <message>
        <source>M&amp;etric:</source>
        <translation>指标(&amp;E)：</translation>
    </message>
    <message>
        <source>Your own JSONL file…</source>
        <translation>你自己的 JSONL 文件…</translation>
    </message>
    <message>
        <source>No app available</source>
        <translation>没有可用的应用</translation>
    </message>
    <message>
        <source>{name} ({id})</source>
        <translation>{name}（{id}）</translation>
    </message>
</context>
<context>
    <name>SearchResultsModel</name>
    <message>
        <source>Repository</source>
        <translation>仓库</translation>
    </message>
    <message>
        <source>Downloads</source>
        <translation>下载量</translation>
    </message>
    <message>
        <source>Likes</source>
        <translation>点赞数</translation>
    </message>
    <message>
        <source>Updated</source>
        <translation>更新时间</translation>
    </message>
    <message>
        <source>Access</source>
        <translation>访问权限</translation>
    </message>
    <message>
        <source>Gated</source>
        <translation>受限</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>公开</translation>
    </message>
</context>
<context>
    <name>SettingsPage</name>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Appearance</source>
        <translation>外观</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>&amp;Language:</source>
        <translation>语言(&amp;L)：</translation>
    </message>
    <message>
        <source>A new language is used the next time LLMOS Desktop starts.</source>
        <translation>新语言将在下次启动 LLMOS Desktop 时生效。</translation>
    </message>
    <message>
        <source>System</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Light</source>
        <translation>浅色</translation>
    </message>
    <message>
        <source>Dark</source>
        <translation>深色</translation>
    </message>
    <message>
        <source>&amp;Theme:</source>
        <translation>主题(&amp;T)：</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>聊天</translation>
    </message>
    <message>
        <source>&amp;Enter sends the message (Shift+Enter adds a line)</source>
        <translation>按 Enter 发送消息（Shift+Enter 换行）(&amp;E)</translation>
    </message>
    <message>
        <source>When off, Ctrl+Enter sends and Enter adds a line.</source>
        <translation>关闭后，Ctrl+Enter 发送，Enter 换行。</translation>
    </message>
    <message>
        <source>Default sampling for new chats</source>
        <translation>新对话的默认采样参数</translation>
    </message>
    <message>
        <source>Te&amp;mperature:</source>
        <translation>温度(&amp;M)：</translation>
    </message>
    <message>
        <source>Higher is more varied, lower more focused; 0 always picks the likeliest</source>
        <translation>越高越多样，越低越集中；为 0 时总是选择最可能的词元</translation>
    </message>
    <message>
        <source>Top &amp;P:</source>
        <translation>Top &amp;P：</translation>
    </message>
    <message>
        <source>Pick only from the likeliest tokens that make up this share</source>
        <translation>只从累计概率达到此比例的最可能词元中选择</translation>
    </message>
    <message>
        <source>Off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Top &amp;K:</source>
        <translation>Top &amp;K：</translation>
    </message>
    <message>
        <source>Pick only from this many likeliest tokens (0: no limit)</source>
        <translation>只从这么多个最可能的词元中选择（0：不限）</translation>
    </message>
    <message>
        <source>M&amp;in P:</source>
        <translation>M&amp;in P：</translation>
    </message>
    <message>
        <source>Drop tokens less likely than this share of the likeliest one</source>
        <translation>舍弃概率低于最可能词元此比例的词元</translation>
    </message>
    <message>
        <source>&amp;Repeat penalty:</source>
        <translation>重复惩罚(&amp;R)：</translation>
    </message>
    <message>
        <source>Above 1 makes repeating recent text less likely; 1 is off</source>
        <translation>大于 1 时降低重复近期内容的可能；1 表示关闭</translation>
    </message>
    <message>
        <source>No limit</source>
        <translation>不限</translation>
    </message>
    <message>
        <source>Ma&amp;x tokens:</source>
        <translation>最大词元数(&amp;X)：</translation>
    </message>
    <message>
        <source>The longest a reply may be, in tokens</source>
        <translation>一条回复最多可包含的词元数</translation>
    </message>
    <message>
        <source>Model loading</source>
        <translation>模型加载</translation>
    </message>
    <message>
        <source> tokens</source>
        <translation> 词元</translation>
    </message>
    <message>
        <source>&amp;Context size:</source>
        <translation>上下文大小(&amp;C)：</translation>
    </message>
    <message>
        <source>How much of the conversation the model sees; more needs more memory</source>
        <translation>模型能看到的对话长度；越大占用内存越多</translation>
    </message>
    <message>
        <source>All</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>Layers to run on the GPU (0: none, All: every layer)</source>
        <translation>在 GPU 上运行的层数（0：不使用；全部：所有层）</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>Threads for the CPU&apos;s share of the work (Automatic: one per core)</source>
        <translation>CPU 计算使用的线程数（自动：每个核心一个）</translation>
    </message>
    <message>
        <source>These apply the next time a model is loaded.</source>
        <translation>以上设置在下次加载模型时生效。</translation>
    </message>
    <message>
        <source>Storage</source>
        <translation>存储</translation>
    </message>
    <message>
        <source> MB</source>
        <translation> MB</translation>
    </message>
    <message>
        <source>Disk space for reopening long conversations without re-reading them</source>
        <translation>用于重新打开长对话而无需重新读取的磁盘空间</translation>
    </message>
    <message>
        <source>Long conversations reopen at once when the model&apos;s state for them is kept on disk. 0 turns this off. Applies the next time LLMOS Desktop starts.</source>
        <translation>将模型对长对话的状态保存在磁盘上，重新打开时即可立即继续。设为 0 可关闭此功能。下次启动 LLMOS Desktop 时生效。</translation>
    </message>
    <message>
        <source>&amp;Data folder:</source>
        <translation>数据文件夹(&amp;D)：</translation>
    </message>
    <message>
        <source>Open the data folder in the file manager</source>
        <translation>在文件管理器中打开数据文件夹</translation>
    </message>
    <message>
        <source>M&amp;odels folder:</source>
        <translation>模型文件夹(&amp;O)：</translation>
    </message>
    <message>
        <source>Open the models folder in the file manager</source>
        <translation>在文件管理器中打开模型文件夹</translation>
    </message>
    <message>
        <source>This value was not accepted: {error}</source>
        <translation>此值未被接受：{error}</translation>
    </message>
    <message>
        <source>Settings could not be saved to {path}: {error}</source>
        <translation>无法将设置保存到 {path}：{error}</translation>
    </message>
    <message>
        <source>No file manager could open {folder}.</source>
        <translation>没有可以打开 {folder} 的文件管理器。</translation>
    </message>
    <message>
        <source>System: follow the desktop&apos;s light or dark mode</source>
        <translation>跟随系统：随桌面的浅色或深色模式切换</translation>
    </message>
    <message>
        <source>GP&amp;U layers:</source>
        <translation>GPU 层数(&amp;U)：</translation>
    </message>
    <message>
        <source>CPU thread&amp;s:</source>
        <translation>CPU 线程数(&amp;S)：</translation>
    </message>
    <message>
        <source>Reset sampli&amp;ng and loading to defaults</source>
        <translation>将采样和加载恢复为默认值(&amp;N)</translation>
    </message>
    <message>
        <source>Saved conversation st&amp;ates:</source>
        <translation>已保存的对话状态(&amp;A)：</translation>
    </message>
    <message>
        <source>Open in file manager</source>
        <translation>在文件管理器中打开</translation>
    </message>
    <message>
        <source>Models and the Hugging Face Hub</source>
        <translation>模型与 Hugging Face Hub</translation>
    </message>
    <message>
        <source>Bro&amp;wse…</source>
        <translation>浏览(&amp;W)…</translation>
    </message>
    <message>
        <source>Choose another models folder</source>
        <translation>选择其他模型文件夹</translation>
    </message>
    <message>
        <source>Default</source>
        <translation>默认</translation>
    </message>
    <message>
        <source>Use the default models folder in the data folder</source>
        <translation>使用数据文件夹中的默认模型文件夹</translation>
    </message>
    <message>
        <source>Where downloads and copied-in models go. Models already in the old folder stay there.</source>
        <translation>下载的模型和复制导入的模型都存放在这里。原文件夹中已有的模型会留在原处。</translation>
    </message>
    <message>
        <source>Default ({address})</source>
        <translation>默认（{address}）</translation>
    </message>
    <message>
        <source>Mirror for mainland China (hf-mirror.com)</source>
        <translation>中国大陆镜像（hf-mirror.com）</translation>
    </message>
    <message>
        <source>Another address</source>
        <translation>其他地址</translation>
    </message>
    <message>
        <source>Hu&amp;b endpoint:</source>
        <translation>Hub 端点(&amp;B)：</translation>
    </message>
    <message>
        <source>Where models are searched for and downloaded from</source>
        <translation>搜索和下载模型所用的地址</translation>
    </message>
    <message>
        <source>Hub endpoint address</source>
        <translation>Hub 端点地址</translation>
    </message>
    <message>
        <source>The default is huggingface.co, or the HF_ENDPOINT environment variable when it is set. Where the Hub is hard to reach, as often in mainland China, choose the mirror.</source>
        <translation>默认为 huggingface.co；如果设置了 HF_ENDPOINT 环境变量，则使用该变量的值。在中国大陆等难以访问 Hub 的地方，请选择镜像。</translation>
    </message>
    <message>
        <source>The system&apos;s proxy settings</source>
        <translation>系统代理设置</translation>
    </message>
    <message>
        <source>No proxy</source>
        <translation>不使用代理</translation>
    </message>
    <message>
        <source>This proxy</source>
        <translation>指定代理</translation>
    </message>
    <message>
        <source>HTTP prox&amp;y:</source>
        <translation>HTTP 代理(&amp;Y)：</translation>
    </message>
    <message>
        <source>The proxy for the Hub; TLS certificates are always checked</source>
        <translation>访问 Hub 所用的代理；始终会校验 TLS 证书</translation>
    </message>
    <message>
        <source>Proxy address</source>
        <translation>代理地址</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>正在检查…</translation>
    </message>
    <message>
        <source>Set token…</source>
        <translation>设置令牌…</translation>
    </message>
    <message>
        <source>Set a Hugging Face token</source>
        <translation>设置 Hugging Face 令牌</translation>
    </message>
    <message>
        <source>Clear</source>
        <translation>清除</translation>
    </message>
    <message>
        <source>Clear the Hugging Face token</source>
        <translation>清除 Hugging Face 令牌</translation>
    </message>
    <message>
        <source>Hugging Face token:</source>
        <translation>Hugging Face 令牌：</translation>
    </message>
    <message>
        <source>For gated and private repositories. Kept in the system keyring (or a file only you can read) and sent only to the Hub endpoint.</source>
        <translation>用于受限仓库和私有仓库。保存在系统密钥环中（或只有你能读取的文件中），且只会发送到 Hub 端点。</translation>
    </message>
    <message>
        <source>Choose the models folder</source>
        <translation>选择模型文件夹</translation>
    </message>
    <message>
        <source>The Hub endpoint must be an http:// or https:// address such as https://huggingface.co.</source>
        <translation>Hub 端点必须是 http:// 或 https:// 地址，例如 https://huggingface.co。</translation>
    </message>
    <message>
        <source>The proxy must be an address such as http://proxy.example:8080 (http, https or socks5).</source>
        <translation>代理必须是类似 http://proxy.example:8080 的地址（http、https 或 socks5）。</translation>
    </message>
    <message>
        <source>The token could not be read or saved.</source>
        <translation>无法读取或保存令牌。</translation>
    </message>
    <message>
        <source>The token was not saved: {error}</source>
        <translation>令牌未保存：{error}</translation>
    </message>
    <message>
        <source>No token</source>
        <translation>未设置令牌</translation>
    </message>
    <message>
        <source>A token is kept in the system keyring</source>
        <translation>令牌已保存在系统密钥环中</translation>
    </message>
    <message>
        <source>A token is kept in a file only you can read</source>
        <translation>令牌已保存在只有你能读取的文件中</translation>
    </message>
    <message>
        <source>Apps catalogue:</source>
        <translation>应用目录：</translation>
    </message>
    <message>
        <source>A Hugging Face repository of LLM apps for the Store (empty: none)</source>
        <translation>为商店提供 LLM 应用的 Hugging Face 仓库（留空：不使用）</translation>
    </message>
    <message>
        <source>The apps catalogue must be a repository such as owner/name.</source>
        <translation>应用目录必须是 owner/name 形式的仓库。</translation>
    </message>
</context>
<context>
    <name>SnippetsView</name>
    <message>
        <source>Example code</source>
        <translation>示例代码</translation>
    </message>
    <message>
        <source>curl</source>
        <translation>curl</translation>
    </message>
    <message>
        <source>Example with curl</source>
        <translation>curl 示例</translation>
    </message>
    <message>
        <source>Python</source>
        <translation>Python</translation>
    </message>
    <message>
        <source>Example in Python with the openai package</source>
        <translation>使用 openai 包的 Python 示例</translation>
    </message>
    <message>
        <source>JavaScript</source>
        <translation>JavaScript</translation>
    </message>
    <message>
        <source>Example in JavaScript with the openai npm package</source>
        <translation>使用 openai npm 包的 JavaScript 示例</translation>
    </message>
    <message>
        <source>Copy</source>
        <translation>复制</translation>
    </message>
    <message>
        <source>Copy the {language} example</source>
        <translation>复制 {language} 示例</translation>
    </message>
    <message>
        <source>Language of the example</source>
        <translation>示例的语言</translation>
    </message>
</context>
<context>
    <name>StarterModel</name>
    <message>
        <source>The starter is a very small model: it can hold a simple conversation and write short snippets, but it often makes mistakes, and its facts are often wrong. Get a better model from the Models page.</source>
        <translation>入门模型非常小：能进行简单的对话、写一些简短的代码片段，但经常出错，给出的事实也常常不对。可以在“模型”页面获取更好的模型。</translation>
    </message>
    <message>
        <source>SmolLM2 135M Instruct (starter)</source>
        <translation>SmolLM2 135M Instruct（入门模型）</translation>
    </message>
</context>
<context>
    <name>StorePage</name>
    <message>
        <source>Store</source>
        <translation>商店</translation>
    </message>
    <message>
        <source>Install from &amp;file…</source>
        <translation>从文件安装(&amp;F)…</translation>
    </message>
    <message>
        <source>Install an app someone sent you (.llmapp)</source>
        <translation>安装别人发给你的应用（.llmapp）</translation>
    </message>
    <message>
        <source>&amp;Publish all…</source>
        <translation>全部发布(&amp;P)…</translation>
    </message>
    <message>
        <source>Upload the installed apps to a Hugging Face repository others can add</source>
        <translation>将已安装的应用上传到 Hugging Face 仓库，供他人添加</translation>
    </message>
    <message>
        <source>&amp;Catalogue</source>
        <translation>应用目录(&amp;C)</translation>
    </message>
    <message>
        <source>&amp;Installed</source>
        <translation>已安装(&amp;I)</translation>
    </message>
    <message>
        <source>&amp;Build an app</source>
        <translation>构建应用(&amp;B)</translation>
    </message>
    <message>
        <source>Store sections</source>
        <translation>商店页面分区</translation>
    </message>
    <message>
        <source>Copied.</source>
        <translation>已复制。</translation>
    </message>
    <message>
        <source>The apps could not be read: {error}</source>
        <translation>无法读取应用：{error}</translation>
    </message>
    <message>
        <source>The remote catalogue could not be read: {error}</source>
        <translation>无法读取远程应用目录：{error}</translation>
    </message>
    <message>
        <source>{n} apps of the remote catalogue were left out</source>
        <translation>远程应用目录中有 {n} 个应用被略过</translation>
    </message>
    <message>
        <source>&amp;Installed (updates: {n})</source>
        <translation>已安装（可更新：{n}）(&amp;I)</translation>
    </message>
    <message>
        <source>Reading the remote catalogue…</source>
        <translation>正在读取远程应用目录…</translation>
    </message>
    <message>
        <source>The remote catalogue could not be read; the built-in apps are still here. {error}</source>
        <translation>无法读取远程应用目录；内置应用仍可使用。{error}</translation>
    </message>
    <message>
        <source>Installing {name}…</source>
        <translation>正在安装 {name}…</translation>
    </message>
    <message>
        <source>{name} was not installed: {error}</source>
        <translation>未能安装 {name}：{error}</translation>
    </message>
    <message>
        <source>{name} {version} is installed.</source>
        <translation>{name} {version} 已安装。</translation>
    </message>
    <message>
        <source>Removing {name}…</source>
        <translation>正在移除 {name}…</translation>
    </message>
    <message>
        <source>{name} was not removed: {error}</source>
        <translation>未能移除 {name}：{error}</translation>
    </message>
    <message>
        <source>{name} was removed.</source>
        <translation>{name} 已移除。</translation>
    </message>
    <message>
        <source>Remove an app</source>
        <translation>移除应用</translation>
    </message>
    <message>
        <source>Remove {name}?</source>
        <translation>要移除 {name} 吗？</translation>
    </message>
    <message>
        <source>No catalogue has this app: export it first to keep a copy.</source>
        <translation>没有任何应用目录包含此应用：请先导出以保留一份副本。</translation>
    </message>
    <message>
        <source>It stays in the catalogue; you can install it again.</source>
        <translation>它仍在应用目录中，你可以再次安装。</translation>
    </message>
    <message>
        <source>&amp;Remove</source>
        <translation>移除(&amp;R)</translation>
    </message>
    <message>
        <source>Export the app</source>
        <translation>导出应用</translation>
    </message>
    <message>
        <source>LLMOS apps (*.llmapp)</source>
        <translation>LLMOS 应用 (*.llmapp)</translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation>所有文件 (*)</translation>
    </message>
    <message>
        <source>The app was not exported: {error}</source>
        <translation>未能导出应用：{error}</translation>
    </message>
    <message>
        <source>Exported to {path}.</source>
        <translation>已导出到 {path}。</translation>
    </message>
    <message>
        <source>Install an app from a file</source>
        <translation>从文件安装应用</translation>
    </message>
    <message>
        <source>{file} was not installed: {error}</source>
        <translation>未能安装 {file}：{error}</translation>
    </message>
    <message>
        <source>{name} is installed.</source>
        <translation>{name} 已安装。</translation>
    </message>
    <message>
        <source>Install or build an app first: there is nothing to publish.</source>
        <translation>请先安装或构建一个应用：目前没有可发布的内容。</translation>
    </message>
    <message>
        <source>Publish apps</source>
        <translation>发布应用</translation>
    </message>
    <message>
        <source>Hugging Face repository to upload the {n} installed apps to (owner/name). It needs the token of the Models page, with write access.</source>
        <translation>要将 {n} 个已安装应用上传到的 Hugging Face 仓库（owner/name）。需要在“模型”页面设置的令牌，且具有写入权限。</translation>
    </message>
    <message>
        <source>Publishing to {repo}…</source>
        <translation>正在发布到 {repo}…</translation>
    </message>
    <message>
        <source>The apps were not published: {error}</source>
        <translation>未能发布应用：{error}</translation>
    </message>
    <message>
        <source>Published {n} apps to {repo}.</source>
        <translation>已将 {n} 个应用发布到 {repo}。</translation>
    </message>
    <message>
        <source>Opens a new chat, with the chat&apos;s model.</source>
        <translation>打开一个新对话，使用对话的当前模型。</translation>
    </message>
    <message>
        <source>Apps cannot run here: there is no engine.</source>
        <translation>应用无法在此运行：没有可用的引擎。</translation>
    </message>
    <message>
        <source>The app was written for {model}: Get it below.</source>
        <translation>此应用是为 {model} 编写的：请在下方获取。</translation>
    </message>
    <message>
        <source>Runs with {model}, loaded now.</source>
        <translation>使用当前已加载的 {model} 运行。</translation>
    </message>
    <message>
        <source>Its context ({have} tokens) is smaller than this app asks for ({need}).</source>
        <translation>它的上下文（{have} 词元）小于此应用要求的大小（{need}）。</translation>
    </message>
    <message>
        <source>Runs with {model} from your library; Run loads it.</source>
        <translation>使用模型库中的 {model} 运行；点击“运行”时加载。</translation>
    </message>
    <message>
        <source>Runs with the starter model ({model}): quick, but too small to do this well.</source>
        <translation>使用入门模型（{model}）运行：速度快，但模型太小，效果不佳。</translation>
    </message>
    <message>
        <source>No model can run this app yet: get the recommended one below.</source>
        <translation>还没有可以运行此应用的模型：请在下方获取推荐模型。</translation>
    </message>
    <message>
        <source>No model: get the recommended one on the app&apos;s page.</source>
        <translation>没有模型：请在应用页面获取推荐模型。</translation>
    </message>
    <message>
        <source>Model: {model}</source>
        <translation>模型：{model}</translation>
    </message>
    <message>
        <source>Model: {model} (loaded when you run)</source>
        <translation>模型：{model}（运行时加载）</translation>
    </message>
    <message>
        <source>Open in &amp;chat</source>
        <translation>在对话中打开(&amp;C)</translation>
    </message>
    <message>
        <source>&amp;Run</source>
        <translation>运行(&amp;R)</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>Stopped.</source>
        <translation>已停止。</translation>
    </message>
    <message>
        <source>No model can run this app: get the recommended one on its page.</source>
        <translation>没有可以运行此应用的模型：请在应用页面获取推荐模型。</translation>
    </message>
    <message>
        <source>Loading {model}…</source>
        <translation>正在加载 {model}…</translation>
    </message>
    <message>
        <source>Writing…</source>
        <translation>正在生成…</translation>
    </message>
    <message>
        <source>Stopped; what was written is kept.</source>
        <translation>已停止；已生成的内容会保留。</translation>
    </message>
    <message>
        <source>Check the inputs.</source>
        <translation>请检查输入项。</translation>
    </message>
    <message>
        <source>Done: {n} tokens, {speed} tokens/s.</source>
        <translation>完成：{n} 词元，{speed} 词元/秒。</translation>
    </message>
    <message>
        <source>Done: {n} tokens.</source>
        <translation>完成：{n} 词元。</translation>
    </message>
    <message>
        <source>Done in {s} s.</source>
        <translation>完成，用时 {s} 秒。</translation>
    </message>
    <message>
        <source>It stopped at the app&apos;s length limit.</source>
        <translation>已达到应用的长度上限而停止。</translation>
    </message>
    <message>
        <source>Save the result</source>
        <translation>保存结果</translation>
    </message>
    <message>
        <source>JSON (*.json)</source>
        <translation>JSON (*.json)</translation>
    </message>
    <message>
        <source>Markdown (*.md)</source>
        <translation>Markdown (*.md)</translation>
    </message>
    <message>
        <source>Text (*.txt)</source>
        <translation>文本 (*.txt)</translation>
    </message>
    <message>
        <source>The result was not saved: {error}</source>
        <translation>未能保存结果：{error}</translation>
    </message>
    <message>
        <source>Saved to {path}.</source>
        <translation>已保存到 {path}。</translation>
    </message>
    <message>
        <source>{name} was not saved: {error}</source>
        <translation>未能保存 {name}：{error}</translation>
    </message>
    <message>
        <source>{name} is saved and installed: find it in the Installed tab.</source>
        <translation>{name} 已保存并安装：可在“已安装”选项卡中找到。</translation>
    </message>
    <message>
        <source>Choose the app&apos;s icon</source>
        <translation>选择应用图标</translation>
    </message>
    <message>
        <source>PNG images (*.png)</source>
        <translation>PNG 图片 (*.png)</translation>
    </message>
</context>
<context>
    <name>StoreWording</name>
    <message>
        <source>Writing</source>
        <translation>写作</translation>
    </message>
    <message>
        <source>Translation</source>
        <translation>翻译</translation>
    </message>
    <message>
        <source>Questions and answers</source>
        <translation>问答</translation>
    </message>
    <message>
        <source>Summaries</source>
        <translation>摘要</translation>
    </message>
    <message>
        <source>Code</source>
        <translation>代码</translation>
    </message>
    <message>
        <source>Data extraction</source>
        <translation>数据提取</translation>
    </message>
    <message>
        <source>Productivity</source>
        <translation>效率</translation>
    </message>
    <message>
        <source>Learning</source>
        <translation>学习</translation>
    </message>
    <message>
        <source>Other</source>
        <translation>其他</translation>
    </message>
    <message>
        <source>All apps</source>
        <translation>全部应用</translation>
    </message>
    <message>
        <source>Chat</source>
        <translation>对话</translation>
    </message>
    <message>
        <source>Form</source>
        <translation>表单</translation>
    </message>
    <message>
        <source>Structured data</source>
        <translation>结构化数据</translation>
    </message>
    <message>
        <source>Opens a new chat with this app&apos;s instructions.</source>
        <translation>使用此应用的指令打开一个新对话。</translation>
    </message>
    <message>
        <source>Fill in a form; the answer is written as it comes.</source>
        <translation>填写表单；回答会边生成边显示。</translation>
    </message>
    <message>
        <source>Fill in a form; the answer is data that follows the app&apos;s schema, shown as a table or fields.</source>
        <translation>填写表单；回答是符合应用 Schema 的数据，以表格或字段形式显示。</translation>
    </message>
    <message>
        <source>Text</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>Long text</source>
        <translation>长文本</translation>
    </message>
    <message>
        <source>Choice</source>
        <translation>选项</translation>
    </message>
    <message>
        <source>Number</source>
        <translation>数字</translation>
    </message>
    <message>
        <source>Yes / no</source>
        <translation>是 / 否</translation>
    </message>
    <message>
        <source>Something went wrong.</source>
        <translation>出错了。</translation>
    </message>
    <message>
        <source>{field}: {message}</source>
        <translation>{field}：{message}</translation>
    </message>
    <message>
        <source>Unexpected error: {error}</source>
        <translation>意外错误：{error}</translation>
    </message>
</context>
<context>
    <name>StructuredResultView</name>
    <message>
        <source>{n} more rows are not shown.</source>
        <translation>还有 {n} 行未显示。</translation>
    </message>
</context>
<context>
    <name>TokenDialog</name>
    <message>
        <source>Hugging Face token</source>
        <translation>Hugging Face 令牌</translation>
    </message>
    <message>
        <source>{repo} needs a Hugging Face access token from an account that has accepted its terms.</source>
        <translation>{repo} 需要一个已接受其条款的账号的 Hugging Face 访问令牌。</translation>
    </message>
    <message>
        <source>Gated and private repositories need a Hugging Face access token.</source>
        <translation>受限仓库和私有仓库需要 Hugging Face 访问令牌。</translation>
    </message>
    <message>
        <source>Make a token with read access in your account&apos;s settings on the Hub (Settings → Access Tokens). It is kept in the system keyring, or where there is none in a file only you can read, and sent only to the Hub.</source>
        <translation>请在 Hub 上你账号的设置中创建一个具有读取权限的令牌（Settings → Access Tokens）。令牌保存在系统密钥环中（没有密钥环时保存在只有你能读取的文件中），且只会发送到 Hub。</translation>
    </message>
    <message>
        <source>&amp;Token:</source>
        <translation>令牌(&amp;T)：</translation>
    </message>
    <message>
        <source>Token</source>
        <translation>令牌</translation>
    </message>
    <message>
        <source>Enter a token, or Cancel.</source>
        <translation>请输入令牌，或点击“取消”。</translation>
    </message>
    <message>
        <source>Paste the token as the Hub shows it: one word, no spaces.</source>
        <translation>请按 Hub 显示的原样粘贴令牌：一个连续的字符串，不含空格。</translation>
    </message>
</context>
<context>
    <name>UndoStrip</name>
    <message>
        <source>Undo the deletion</source>
        <translation>撤销删除</translation>
    </message>
    <message>
        <source>Dismiss</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Deleted “{title}”.</source>
        <translation>已删除“{title}”。</translation>
    </message>
    <message>
        <source>Undo</source>
        <translation>撤销</translation>
    </message>
</context>
</TS>
