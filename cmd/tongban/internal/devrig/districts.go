package devrig

import (
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// District is a simulated partner district: its code (GB/T 2260), which
// is also its caller id, key id and only region; its name; and the
// adapter style its system speaks.
type District struct{ Code, Name, Style string }

// StyleConfig is the adapter block of a district of style whose
// simulated system listens at endpoint: each style's example block
// (mappedjson.ExampleConfig, soap.ExampleConfig, mailbox.ExampleConfig),
// {"endpoint": endpoint} for standard.
func StyleConfig(style, endpoint string) json.RawMessage {
	switch style {
	case mappedjson.Name:
		return mappedjson.ExampleConfig(endpoint)
	case soap.Name:
		return soap.ExampleConfig(endpoint)
	case mailbox.Name:
		return mailbox.ExampleConfig()
	}
	b, _ := json.Marshal(map[string]string{"endpoint": endpoint})
	return b
}

// Submission returns a valid case from Zhonglou (320404) to Wucheng
// (330702), as the window window-320404 takes it.
func Submission(exchangeID string, now time.Time) contracts.CaseSubmission {
	pdf := []byte("%PDF-1.4\n% Tongban demo material: 经营场所使用证明\n")
	return contracts.CaseSubmission{
		ExchangeID: exchangeID, FromRegion: "320404", ToRegion: "330702", SubmittedAt: now,
		ServiceItem: contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "113307020025937411400015501400001", Name: "个体工商户设立登记"},
		Applicant:   contracts.Party{HolderType: contracts.HolderTypeCitizenID, IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
		Window:      contracts.Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404", Name: "钟楼区政务服务中心跨省通办窗口"},
		ReceivedAt:  now.Add(-10 * time.Minute), LocalCaseNo: "ZL-KSTB-" + now.Format("20060102-150405"),
		Form: json.RawMessage(`{"business_name":"婺城区秀英百货店","business_scope":"日用百货零售"}`),
		Materials: []contracts.Material{{
			MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: int64(len(pdf)),
			SM3: hex.EncodeToString(signing.Default.SM3(pdf)), Content: pdf,
		}},
		ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodPost, Recipient: "王秀英", Phone: "13961234567", Address: "江苏省常州市钟楼区南大街1号"},
	}
}

// AllDelivered reports whether every delivery is delivered.
func AllDelivered(ds []contracts.DeliveryView) bool {
	for _, d := range ds {
		if d.State != contracts.TransportStateDelivered {
			return false
		}
	}
	return true
}
