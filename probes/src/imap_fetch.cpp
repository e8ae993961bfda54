#include "imap_fetch.hpp"

#include <algorithm>

namespace mailcanary::probes {

std::vector<FetchedSection> fetched_sections(clist* result, std::size_t max_bytes) {
  std::vector<FetchedSection> out;
  for (clistiter* it = clist_begin(result); it; it = clist_next(it)) {
    auto* msg = static_cast<mailimap_msg_att*>(clist_content(it));
    FetchedSection section;
    for (clistiter* a = clist_begin(msg->att_list); a; a = clist_next(a)) {
      auto* item = static_cast<mailimap_msg_att_item*>(clist_content(a));
      if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !item->att_data.att_static) {
        continue;
      }
      auto* st = item->att_data.att_static;
      if (st->att_type == MAILIMAP_MSG_ATT_UID) {
        section.uid = st->att_data.att_uid;
      } else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && st->att_data.att_body_section &&
                 st->att_data.att_body_section->sec_body_part) {
        auto* sec = st->att_data.att_body_section;
        section.text.assign(sec->sec_body_part, std::min<std::size_t>(sec->sec_length, max_bytes));
      }
    }
    out.push_back(std::move(section));
  }
  return out;
}

}  // namespace mailcanary::probes
