#include "tongbanctl/i18n.h"

#include <cstdlib>
#include <map>

#include "absl/strings/match.h"

namespace tongban::cli {
namespace {

bool ReadLocale() {
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return absl::StartsWith(value, "zh");
  }
  return false;
}

// English -> 简体中文.
// long-function: one table, an entry a line; splitting it would only scatter it.
const std::map<absl::string_view, absl::string_view>& Chinese() {
  static const auto* table = new std::map<absl::string_view, absl::string_view>{
      // status
      {"node", "节点"},
      {"role", "角色"},
      {"suite", "密码套件"},
      {"signing key", "签名密钥"},
      {"roster", "成员名册"},
      {"own log", "本节点日志"},
      {"logs held", "持有日志"},
      {"pending for", "待同步至"},
      {"disk", "磁盘"},
      {"analytics", "分析库"},
      {"connected", "已连接"},
      {"not connected", "未连接"},
      {"behind", "待写入"},
      {"lag", "延迟"},
      {"rows written", "已写入行"},
      {"started", "启动时间"},
      {"you are", "当前操作员"},
      {"nobody (in sync)", "无（已同步）"},
      {"events", "条事件"},
      {"signed", "已签名"},
      {"frozen", "已冻结"},
      {"none", "无"},
      {"clock", "时钟"},
      {"no event from peers ahead of it beyond the tolerance", "无超出容差的对端事件时间"},
      {"events from peers stamped beyond the tolerance (applied, not adopted; see peers)",
       "条对端事件时间超出容差（已应用，本节点时钟未采纳；见 peers）"},
      {"beyond", "超出"},
      {"acknowledged", "已确认"},
      {"not acknowledged", "未确认"},
      {"certificate", "节点证书"},
      {"CA cert", "CA 证书"},
      {"expires", "到期"},
      {"operator CA", "操作员CA"},
      {"WARNING", "警告"},
      {"ERROR", "错误"},
      {"$0 expired at $1; $2", "$0已于 $1 过期；$2"},
      {"$0 expires in $1 days ($2); $3", "$0将在 $1 天后到期（$2）；$3"},
      {"the node's TLS certificate", "本节点的 TLS 证书"},
      {"the federation CA certificate", "联盟 CA 证书"},
      {"the operator CA certificate", "操作员 CA 证书"},
      {"renew it: tongbanctl pki request here, pki sign at the federation",
       "请续期：在本机运行 tongbanctl pki request，由联盟运行 pki sign"},
      {"the federation must make a new CA and sign every node's request again",
       "联盟须新建 CA 并重新签发每个节点的证书请求"},
      {"make a new operator CA (tongbanctl operator init) and sign the operators' requests",
       "请新建操作员 CA（tongbanctl operator init）并签发操作员的证书请求"},
      {"writes", "写入"},
      {"accepted", "正常接受"},
      {"REFUSED", "拒绝"},
      // table headings
      {"PEER", "对端"},
      {"NAME", "名称"},
      {"STATUS", "状态"},
      {"CONNECTED", "已连接"},
      {"SINCE", "连接时间"},
      {"LAST BATCH", "最近批次"},
      {"BEHIND OUT", "待发送"},
      {"BEHIND IN", "待接收"},
      {"HELD", "暂停"},
      {"FROZEN", "冻结"},
      {"SEEN", "最近联系"},
      {"LOG", "日志条数"},
      {"CHECKPOINT", "最新检查点"},
      {"VERSION", "软件版本"},
      {"ROSTER", "名册版本"},
      {"CERT DAYS", "证书剩余天数"},
      {"REFUSES", "对端拒收"},
      {"CLOCK AHEAD", "时钟超前"},
      {"CLOCK SKEW", "时钟偏差"},
      {"LAST ERROR", "最近错误"},
      {"BUNDLE OUT", "离线包发出"},
      {"BUNDLE IN", "离线包收到"},
      {"ROLE", "角色"},
      {"STATE", "账户状态"},
      {"TOTP", "动态口令"},
      {"LOCK-OUT", "锁定"},
      {"KIND", "类型"},
      {"RECORD", "记录"},
      {"WRITER", "写入方"},
      {"VERSIONS", "版本数"},
      {"VALUE", "内容"},
      {"WHEN", "时间"},
      {"EVENT", "事件"},
      {"OP", "操作"},
      {"NODE", "节点"},
      {"ROLE", "角色"},
      {"LINK", "关联"},
      {"PERSON", "人员"},
      {"INQUIRY", "协查"},
      {"NOTICE", "通报"},
      {"FROM", "发出方"},
      {"TO", "接收方"},
      {"TYPE", "类别"},
      {"SENT", "发出时间"},
      {"DUE", "截止日期"},
      {"STATE", "状态"},
      {"REPLIED", "反馈时间"},
      {"NEEDS", "需要"},
      {"RECEIPT", "回执时间"},
      {"REASON", "事由"},
      {"FEEDBACK", "反馈时间"},
      {"SEQ", "序号"},
      {"OPERATOR", "操作员"},
      {"ACTION", "操作"},
      {"PURPOSE", "事由"},
      {"OUTCOME", "结果"},
      {"yes", "是"},
      {"no", "否"},
      {"(none)", "（无）"},
      {"linked nodes:", "关联节点："},
      {"ended", "已结束"},
      {"active", "有效"},
      // record writes
      {"written", "已写入"},
      {"of person", "，人员"},
      {"as event", "，事件"},
      {"routed to:", "发送至："},
      // errors
      {"error", "错误"},
      {"see --help", "见 --help"},
  };
  return *table;
}

}  // namespace

bool ChineseLocale() {
  static const bool chinese = ReadLocale();
  return chinese;
}

std::string Tr(absl::string_view english) {
  if (!ChineseLocale()) return std::string(english);
  const auto& table = Chinese();
  const auto it = table.find(english);
  return std::string(it == table.end() ? english : it->second);
}

}  // namespace tongban::cli
